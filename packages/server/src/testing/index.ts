// Test helpers other packages' tests use (the web UI's end-to-end tests): real receivers of reports.
// Resolved from sources only (the 'strata-source' condition), never part of the built server.
export { startSmtpServer, hangingServer, type ReceivedMail, type SmtpTestServer } from './smtp-test-server.js'
export { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from './webhook-receiver.js'
export { ApiClient } from './api-client.js'
export { startTestServer } from './test-server.js'
export { startLabJob, until, type LabJob } from './lab-job.js'
