// Retention: pure policy deciding which restore points to keep (keep-last N and daily/weekly/monthly/
// yearly rules, per schedule, in a time zone). Deleting what it rejects is the repository's business.
export * from './policy.js'
