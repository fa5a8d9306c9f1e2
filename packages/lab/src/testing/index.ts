// Test helpers of the lab: several lab pools at once (a replication source and target, two sites).
export { startLabPools, type LabPools } from './lab-pools.js'
