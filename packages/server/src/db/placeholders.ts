// The stores write `?` placeholders (SQLite's); PostgreSQL numbers them ($1, $2...). A `?` inside a
// string literal, a quoted identifier or a comment is text, not a placeholder.

export function numberedPlaceholders(sql: string): string {
  let out = ''
  let n = 0
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!
    if (c === "'" || c === '"') {
      const end = closing(sql, i, c)
      out += sql.slice(i, end + 1)
      i = end
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i)
      const stop = end === -1 ? sql.length : end
      out += sql.slice(i, stop)
      i = stop - 1
    } else if (c === '?') out += `$${++n}`
    else out += c
  }
  return out
}

/** The index of the quote that closes the one at `start` (a doubled quote is an escaped one). */
function closing(sql: string, start: number, quote: string): number {
  for (let i = start + 1; i < sql.length; i++) {
    if (sql[i] !== quote) continue
    if (sql[i + 1] === quote) i++
    else return i
  }
  return sql.length - 1
}
