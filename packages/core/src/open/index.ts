// Opening a repository from where it lives: the one recipe the composition roots (the CLI, the server,
// a job's worker, the bench) share, and on top of it the way the CLI and a job's worker open one from
// their environment (the secret's variables, errors that name the next step). It sits above storage/
// and repository/ so that neither has to know the other's concrete side.
export * from './open-repository.js'
export * from './open-from-env.js'
