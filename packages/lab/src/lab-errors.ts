// Errors of the lab's own API (not XAPI's: those are XapiFailure and travel on the wire).
import { StrataError } from '@strata/core/shared'

/** A lab option out of its bounds (a VM count, a disk size…): the lab does not start. */
export class LabOptionError extends StrataError {
  constructor(option: string, message: string) {
    super('LAB_BAD_OPTION', `lab option ${option}: ${message}`, { details: { option } })
  }
}
