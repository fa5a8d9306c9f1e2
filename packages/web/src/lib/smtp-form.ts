// The SMTP form of Settings → Notifications and the SmtpInput it sends. The password is write-only:
// the form starts empty whatever is stored; left empty it keeps the stored one (the field is not
// sent), and "remove" sends null.
import type { SmtpInput, SmtpSecurity, SmtpSettings } from '@strata/contract'

export interface SmtpForm {
  host: string
  port: number
  security: SmtpSecurity
  username: string
  /** Empty: keep the stored password. */
  password: string
  removePassword: boolean
  from: string
  /** Recipients, separated by commas, semicolons or spaces. */
  to: string
  enabled: boolean
  ca: string
}

export function smtpToForm(smtp: SmtpSettings | undefined): SmtpForm {
  return {
    host: smtp?.host ?? '',
    port: smtp?.port ?? 587,
    security: smtp?.security ?? 'starttls',
    username: smtp?.username ?? '',
    password: '',
    removePassword: false,
    from: smtp?.from ?? '',
    to: smtp?.to.join(', ') ?? '',
    enabled: smtp?.enabled ?? true,
    ca: smtp?.ca ?? '',
  }
}

export function formToSmtp(form: SmtpForm): SmtpInput {
  const username = form.username.trim()
  const ca = form.ca.trim()
  return {
    host: form.host.trim(),
    port: Number(form.port),
    security: form.security,
    ...(username === '' ? {} : { username }),
    ...(form.removePassword ? { password: null } : form.password === '' ? {} : { password: form.password }),
    from: form.from.trim(),
    to: form.to.split(/[\s,;]+/).filter((a) => a !== ''),
    enabled: form.enabled,
    ca: ca === '' ? null : ca,
  }
}
