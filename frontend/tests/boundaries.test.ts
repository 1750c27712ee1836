/**
 * House rule (design.md, "Front end"): components never fetch. Every HTTP call lives in src/api/; this check
 * fails when fetch, EventSource, XMLHttpRequest or WebSocket appear anywhere else in src/.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

import { describe, expect, it } from 'vitest'

const SRC = fileURLToPath(new URL('../src', import.meta.url))
const HTTP = /\b(fetch\s*\(|new\s+EventSource\b|XMLHttpRequest\b|new\s+WebSocket\b)/

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sources(path)
    return /\.(ts|tsx)$/.test(name) && !/\.test\.tsx?$/.test(name) ? [path] : []
  })
}

describe('boundaries', () => {
  it('only src/api talks HTTP', () => {
    const offenders = sources(SRC)
      .map((p) => relative(SRC, p))
      .filter((p) => !p.startsWith('api/'))
      .filter((p) => HTTP.test(readFileSync(join(SRC, p), 'utf8')))
    expect(offenders).toEqual([])
  })

  it('finds the HTTP calls it is looking for (the check itself works)', () => {
    const api = sources(join(SRC, 'api')).filter((p) => HTTP.test(readFileSync(p, 'utf8')))
    expect(api.length).toBeGreaterThan(0)
  })
})
