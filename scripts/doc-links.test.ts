// The README and docs/ link only inside the repository, and only to files that exist: a reader of a
// clone has nothing else. Checked: markdown links and link definitions, HTML href/src, and paths in code
// spans that start with ./ or ../ (how the docs name files; /jsonrpc in code is a URL path, not a file).
// Web links (https://...) are not files.
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

interface BadLink {
  readonly target: string
  readonly why: 'outside the repository' | 'missing'
}

/** Every link target and path-like code span of one markdown text, without #anchors or ?queries. */
function linkTargets(markdown: string): { target: string; inCode: boolean }[] {
  const fenced = markdown.replace(/^```[\s\S]*?^```/gm, '')
  const links = [
    ...fenced.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g),
    ...fenced.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm),
    ...fenced.matchAll(/\b(?:href|src)\s*=\s*["']([^"']+)["']/g),
  ].map((m) => ({ target: m[1]!, inCode: false }))
  const spans = [...fenced.matchAll(/`(\.\.?\/[^`\s]+)`/g)].map((m) => ({ target: m[1]!, inCode: true }))
  return [...links, ...spans].map((l) => ({ ...l, target: l.target.replace(/[#?].*$/, '') }))
}

/** The links of `file` (a path inside `repo`) that leave `repo` or, for real links, name nothing. */
function badLinks(repo: string, file: string, markdown: string): BadLink[] {
  const bad: BadLink[] = []
  for (const { target, inCode } of linkTargets(markdown)) {
    if (target === '' || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue // an anchor, or a web/mail link
    // A link is relative to its page; a path in code is named from the repository's root, as commands
    // run there (`./scripts/test.sh`, `../shared/x.md` meaning beside the clone).
    const path = isAbsolute(target) ? target : resolve(inCode ? repo : dirname(join(repo, file)), target)
    const inside = relative(repo, path)
    if (inside.startsWith('..') || isAbsolute(inside)) bad.push({ target, why: 'outside the repository' })
    else if (!inCode && !existsSync(path)) bad.push({ target, why: 'missing' })
  }
  return bad
}

async function docs(): Promise<string[]> {
  const pages = (await readdir(join(root, 'docs'), { recursive: true })).filter((f) => f.endsWith('.md'))
  return ['README.md', ...pages.map((f) => join('docs', f))]
}

describe('links in the README and docs/', () => {
  it('stay inside the repository and name files that exist', async () => {
    const found: (BadLink & { file: string })[] = []
    for (const file of await docs()) {
      const text = await readFile(join(root, file), 'utf8')
      found.push(...badLinks(root, file, text).map((b) => ({ file, ...b })))
    }
    expect(found).toEqual([])
  })

  it('catches a link out of the repository, a missing file and an outside path in code', () => {
    const repo = '/srv/repo'
    const text = [
      'See [the design](../../shared/DESIGN.md) and [jobs](jobs.md#files).',
      '[ref]: /etc/passwd',
      '<a href="../../outside.html">x</a>',
      'The spec is `../shared/reference/xapi.md`; run `./scripts/test.sh`.',
      '```',
      'cat ../../not-a-link.md',
      '```',
      '[web](https://example.org/x) and [anchor](#top).',
    ].join('\n')
    expect(badLinks(repo, 'docs/page.md', text)).toEqual([
      { target: '../../shared/DESIGN.md', why: 'outside the repository' },
      { target: 'jobs.md', why: 'missing' },
      { target: '/etc/passwd', why: 'outside the repository' },
      { target: '../../outside.html', why: 'outside the repository' },
      { target: '../shared/reference/xapi.md', why: 'outside the repository' },
    ])
  })

  it('accepts links to files of the repository', () => {
    const text =
      '[the map](dev/architecture.md), [the guide](admin-guide.md), [root](../README.md), [code](../packages/core/src/index.ts)'
    expect(badLinks(root, 'docs/page.md', text)).toEqual([])
  })
})
