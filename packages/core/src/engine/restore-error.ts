// The error of a restore that cannot go on: the point, not the pool, is at fault (stable codes:
// RESTORE_NO_VM_METADATA, RESTORE_NO_NETWORK, RESTORE_NO_MEMORY_IMAGE, RESTORE_RESUME_FAILED, ...).
import { StrataError } from '../shared/index.js'

export class RestoreError extends StrataError {}
