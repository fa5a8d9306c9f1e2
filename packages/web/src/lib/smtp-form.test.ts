import { describe, expect, it } from 'vitest'
import { formToSmtp, smtpToForm } from './smtp-form'

describe('smtp form', () => {
  it('never shows the stored password, and keeps it when the field is left empty', () => {
    const form = smtpToForm({
      host: 'mail.example',
      port: 587,
      security: 'starttls',
      username: 'strata',
      passwordSet: true,
      from: 'strata@example.org',
      to: ['a@example.org', 'b@example.org'],
      enabled: true,
    })
    expect(form.password).toBe('')
    expect(form.to).toBe('a@example.org, b@example.org')
    const input = formToSmtp(form)
    expect(input).not.toHaveProperty('password')
    expect(input).toEqual({
      host: 'mail.example',
      port: 587,
      security: 'starttls',
      username: 'strata',
      from: 'strata@example.org',
      to: ['a@example.org', 'b@example.org'],
      enabled: true,
      ca: null,
    })
  })

  it('sends a new password, or null to remove it, and splits recipients on commas, semicolons and spaces', () => {
    const form = { ...smtpToForm(undefined), host: ' h ', from: 'f@x.org', to: 'a@x.org; b@x.org  c@x.org,' }
    expect(formToSmtp({ ...form, password: 'p4ss' })).toMatchObject({
      host: 'h',
      port: 587,
      password: 'p4ss',
      to: ['a@x.org', 'b@x.org', 'c@x.org'],
    })
    expect(formToSmtp({ ...form, password: 'ignored', removePassword: true }).password).toBeNull()
    expect(formToSmtp(form)).not.toHaveProperty('username')
  })
})
