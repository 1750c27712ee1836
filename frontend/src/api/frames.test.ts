import { describe, expect, it } from 'vitest'

import { firstPart, frameTransferSyntax } from './frames'

const enc = new TextEncoder()
const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...enc.encode(p)] : p)))

describe('WADO-RS frame answers (PS3.18 8.7.1, RFC 2046)', () => {
  it('takes the first part and its transfer syntax', () => {
    const pixels = [0, 1, 13, 10, 45, 45, 255] // contains CRLF and "--" inside the data
    const body = bytes(
      '--abc\r\nContent-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1\r\n\r\n',
      pixels,
      '\r\n--abc--\r\n',
    )
    const part = firstPart('multipart/related; type="application/octet-stream"; boundary=abc', body)
    expect([...part.data]).toEqual(pixels)
    expect(frameTransferSyntax(part.contentType)).toBe('1.2.840.10008.1.2.1')
  })

  it('reads quoted boundaries, any header case, and defaults the transfer syntax', () => {
    const body = bytes('--"q"\r\n'.replace(/"/g, ''), 'content-type: image/jls\r\n\r\n', [7, 8], '\r\n--q--')
    const part = firstPart('multipart/related; boundary="q"', body)
    expect([...part.data]).toEqual([7, 8])
    expect(part.contentType).toBe('image/jls')
    expect(frameTransferSyntax(part.contentType)).toBe('1.2.840.10008.1.2.4.80')
    expect(frameTransferSyntax('application/octet-stream')).toBe('1.2.840.10008.1.2')
  })

  it('returns a body that is not multipart as it is, and rejects a truncated one', () => {
    expect([...firstPart('application/octet-stream', bytes([1, 2])).data]).toEqual([1, 2])
    expect(() => firstPart('multipart/related; boundary=x', bytes('--x\r\n\r\n', [1]))).toThrow(/closing boundary/)
  })
})
