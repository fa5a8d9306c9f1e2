// The report the settings' test button sends through one channel, so that an admin sees at once whether
// the SMTP server or a webhook takes it, and the reason when it does not.
import { button, escapeHtml, footer, page } from './email-content.js'
import type { Report } from './channels.js'

export function testReport(publicUrl: string | undefined, requestedBy: string): Report {
  const text = `This is a test report from Strata, sent at the request of ${requestedBy}.\nRun reports and the daily summary will come this way.\n`
  const html = page(
    'Strata test report',
    `<div style="background:#ffffff;border-radius:8px;padding:12px 14px;border-left:5px solid #1d4ed8">` +
      `<h1 style="font-size:20px;margin:0 0 8px">Strata test report</h1>` +
      `<p style="margin:0">Sent at the request of ${escapeHtml(requestedBy)}. Run reports and the daily summary will come this way.</p>` +
      (publicUrl === undefined ? '' : button(publicUrl, 'Open Strata')) +
      `</div>${footer()}`,
  )
  return {
    what: `the test report asked by ${requestedBy}`,
    mail: { subject: '[Strata] Test report', html, text },
    event: 'test',
    payload: { test: true, requestedBy },
  }
}
