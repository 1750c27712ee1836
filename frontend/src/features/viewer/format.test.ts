import { describe, expect, it } from 'vitest'

import { fixed, measurementLines } from './format'

describe('viewer text', () => {
  it('fixed decimals, empty when there is no number', () => {
    expect(fixed(1.25, 1)).toBe('1.3')
    expect(fixed(-0.04, 1)).toBe('-0.0')
    expect(fixed(null)).toBe('')
    expect(fixed(Number.NaN)).toBe('')
  })

  it('length and angle in the units Cornerstone computed', () => {
    expect(measurementLines('Length', { length: 64.0213, unit: 'mm' })).toEqual(['64.02 mm'])
    expect(measurementLines('Length', { length: 128, unit: 'px' })).toEqual(['128.00 px'])
    expect(measurementLines('Angle', { angle: 89.96 })).toEqual(['90.0°'])
    expect(measurementLines('Length', {})).toEqual([])
    expect(measurementLines('Length', undefined)).toEqual([])
  })

  it('ROI statistics: area, mean, SD, range with the modality unit (HU for CT)', () => {
    const stats = { area: 256, areaUnit: 'mm²', mean: 49.44, stdDev: 5.77, min: 40, max: 59, modalityUnit: 'HU' }
    expect(measurementLines('RectangleROI', stats)).toEqual([
      'Area 256.0 mm²',
      'Mean 49.4 HU',
      'SD 5.8 HU',
      'Min 40 / Max 59 HU',
    ])
    expect(measurementLines('EllipticalROI', { area: 113.1, areaUnit: 'mm²', mean: 12 })).toEqual([
      'Area 113.1 mm²',
      'Mean 12.0',
    ])
  })
})
