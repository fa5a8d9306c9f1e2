import { describe, expect, it } from 'vitest'
import { describeCron } from './cron-words'

describe('describeCron', () => {
  it('says the common schedules in words, with the time zone', () => {
    expect(describeCron('0 2 * * *')).toBe('every day at 02:00 UTC')
    expect(describeCron('30 23 * * *', 'Europe/Paris')).toBe('every day at 23:30 Europe/Paris')
    expect(describeCron('0 * * * *')).toBe('every hour')
    expect(describeCron('15 * * * *')).toBe('every hour at 15 past')
    expect(describeCron('*/15 * * * *')).toBe('every 15 minutes')
    expect(describeCron('*/1 * * * *')).toBe('every minute')
    expect(describeCron('0 3 * * 1-5')).toBe('on weekdays at 03:00 UTC')
    expect(describeCron('0 3 * * 0,6')).toBe('on weekends at 03:00 UTC')
    expect(describeCron('0 4 * * 0')).toBe('every Sunday at 04:00 UTC')
    expect(describeCron('0 4 * * 7')).toBe('every Sunday at 04:00 UTC')
    expect(describeCron('0 4 * * 1,3,5')).toBe('every Monday, Wednesday and Friday at 04:00 UTC')
    expect(describeCron('0 1 1 * *')).toBe('every month on the 1st at 01:00 UTC')
    expect(describeCron('0 1 2 * *')).toBe('every month on the 2nd at 01:00 UTC')
    expect(describeCron('0 1 3 * *')).toBe('every month on the 3rd at 01:00 UTC')
    expect(describeCron('0 1 11 * *')).toBe('every month on the 11th at 01:00 UTC')
    expect(describeCron('0 1 22 * *')).toBe('every month on the 22nd at 01:00 UTC')
    expect(describeCron('  0  2 * * *  ')).toBe('every day at 02:00 UTC')
  })

  it('falls back to the cron itself for anything else', () => {
    for (const cron of [
      '0 2,14 * * *',
      '0 */6 * * *',
      '0 2 * 1 *',
      '0 2 1 * 1',
      '0 0 2 * * *',
      '5-10 2 * * *',
      '0 25 * * *',
      '61 2 * * *',
      '0 2 0 * *',
      '*/0 * * * *',
      '0 2 * * MON',
      '@daily',
      '',
    ])
      expect(describeCron(cron)).toBe(cron)
  })
})
