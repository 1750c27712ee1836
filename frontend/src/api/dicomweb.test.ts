import { describe, expect, it } from 'vitest'

import { describeLoadError, num, nums, sortInstances, str, type DicomJson } from './dicomweb'

const instance = (sop: string, n: number | null, z: number | null): DicomJson => ({
  '00080018': { vr: 'UI', Value: [sop] },
  ...(n === null ? {} : { '00200013': { vr: 'IS', Value: [n] } }),
  ...(z === null
    ? {}
    : {
        '00200032': { vr: 'DS', Value: [0, 0, z] },
        '00200037': { vr: 'DS', Value: [1, 0, 0, 0, 1, 0] },
      }),
})

describe('DICOM JSON values (PS3.18 F.2)', () => {
  it('reads strings, person names and numbers', () => {
    const ds: DicomJson = {
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^John' }] },
      '00080060': { vr: 'CS', Value: ['CT'] },
      '00280030': { vr: 'DS', Value: ['0.5', '0.5'] },
      '00200011': { vr: 'IS', Value: [3] },
      '0008103E': { vr: 'LO' },
    }
    expect(str(ds, '00100010')).toBe('Doe^John')
    expect(str(ds, '00080060')).toBe('CT')
    expect(str(ds, '0008103E')).toBe('')
    expect(num(ds, '00200011')).toBe(3)
    expect(num(ds, '0008103E')).toBeNull()
    expect(nums(ds, '00280030')).toEqual([0.5, 0.5])
  })
})

describe('display order of a series', () => {
  it('by instance number first', () => {
    const sorted = sortInstances([instance('c', 3, 0), instance('a', 1, 9), instance('b', 2, 5)])
    expect(sorted.map((d) => str(d, '00080018'))).toEqual(['a', 'b', 'c'])
  })

  it('by position along the slice normal when instance numbers are missing or equal', () => {
    const sorted = sortInstances([instance('x', null, 2.5), instance('y', null, -1), instance('z', null, 0)])
    expect(sorted.map((d) => str(d, '00080018'))).toEqual(['y', 'z', 'x'])
  })

  it('by SOP Instance UID as the last resort, deterministically', () => {
    const sorted = sortInstances([instance('2', null, null), instance('1', null, null)])
    expect(sorted.map((d) => str(d, '00080018'))).toEqual(['1', '2'])
  })
})

describe('load errors people can read', () => {
  it('wasm decoders throw bare numbers', () => {
    expect(describeLoadError(573704)).toBe('its pixel data could not be decoded (decoder error 573704)')
    expect(describeLoadError(new Error('12'))).toMatch(/could not be decoded/)
  })

  it('messages and nested errors', () => {
    expect(describeLoadError(new Error('Unsupported transfer syntax'))).toBe('Unsupported transfer syntax')
    expect(describeLoadError({ error: new Error('boom') })).toBe('boom')
    expect(describeLoadError({ status: 502 })).toBe('HTTP 502')
    expect(describeLoadError(undefined)).toBe('unknown error')
  })
})
