// Opening a repository from where it lives: the one recipe the composition roots (the CLI, the server,
// a job's worker, the bench) share. It sits above storage/ and repository/ so that neither has to know
// the other's concrete side.
export * from './open-repository.js'
