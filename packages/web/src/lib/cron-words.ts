// A schedule in words next to its cron ("every day at 02:00 UTC"), for the common shapes admins write:
// every N minutes, hourly at :MM, daily, on weekdays or given days of the week, monthly on a day. Any
// other expression (ranges with steps, lists of hours, seconds fields...) falls back to the cron itself,
// so the words never say something the cron does not.
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const NUMBER = /^\d{1,2}$/

const pad = (n: number) => String(n).padStart(2, '0')

function ordinal(n: number): string {
  const tens = n % 100
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th')
  return `${n}${suffix}`
}

/** '1-5' → 'Monday to Friday', '0,6' → 'Saturday and Sunday', '3' → 'Wednesday'; undefined otherwise. */
function weekdays(field: string): string | undefined {
  if (field === '1-5' || field === 'MON-FRI') return 'on weekdays'
  if (field === '0,6' || field === '6,0' || field === 'SAT,SUN') return 'on weekends'
  const days = field.split(',')
  if (!days.every((d) => /^[0-7]$/.test(d))) return undefined
  const names = [...new Set(days.map((d) => DAYS[Number(d) % 7]!))]
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`
  return `every ${list}`
}

function valid(value: string, max: number): number | undefined {
  if (!NUMBER.test(value)) return undefined
  const n = Number(value)
  return n <= max ? n : undefined
}

/** The words for a 5-field cron in a time zone, or the cron itself when it is not a common shape. */
export function describeCron(cron: string, timezone = 'UTC'): string {
  const fields = cron.trim().split(/\s+/)
  if (fields.length !== 5) return cron
  const [minute, hour, dom, month, dow] = fields as [string, string, string, string, string]
  if (month !== '*') return cron
  const step = /^\*\/(\d{1,2})$/.exec(minute)
  if (step && hour === '*' && dom === '*' && dow === '*') {
    const n = Number(step[1])
    return n === 1 ? 'every minute' : n > 0 && n < 60 ? `every ${n} minutes` : cron
  }
  const m = valid(minute, 59)
  if (m === undefined) return cron
  if (hour === '*' && dom === '*' && dow === '*')
    return m === 0 ? 'every hour' : `every hour at ${pad(m)} past`
  const h = valid(hour, 23)
  if (h === undefined) return cron
  const at = `at ${pad(h)}:${pad(m)} ${timezone}`
  if (dom === '*' && dow === '*') return `every day ${at}`
  if (dom === '*') {
    const days = weekdays(dow)
    return days === undefined ? cron : `${days} ${at}`
  }
  const d = valid(dom, 31)
  if (d === undefined || d === 0 || dow !== '*') return cron
  return `every month on the ${ordinal(d)} ${at}`
}
