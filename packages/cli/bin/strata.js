#!/usr/bin/env node
// The AWS SDK warns on every run that its 2027 releases need Node 22; Strata pins its SDK version.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const { main } = await import('../dist/main.js')

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr })
