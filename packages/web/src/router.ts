// The UI's pages. Everything but /login needs a session: the guard asks the server who is logged in
// once, and any later 401 from the API sends the user back to /login with the page they were on.
import { createRouter, createWebHistory } from 'vue-router'
import { onUnauthenticated } from './api/client'
import { forgetSession, loadSession } from './lib/session'
import FilesView from './views/FilesView.vue'
import JobEditView from './views/JobEditView.vue'
import JobsView from './views/JobsView.vue'
import LoginView from './views/LoginView.vue'
import LogsView from './views/LogsView.vue'
import OverviewView from './views/OverviewView.vue'
import PoolsView from './views/PoolsView.vue'
import ReplicasView from './views/ReplicasView.vue'
import RepositoriesView from './views/RepositoriesView.vue'
import RepositoryView from './views/RepositoryView.vue'
import RestoreView from './views/RestoreView.vue'
import RunView from './views/RunView.vue'
import SettingsView from './views/SettingsView.vue'
import UsersView from './views/UsersView.vue'
import XoRemotesView from './views/XoRemotesView.vue'
import AgentsView from './views/AgentsView.vue'

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/login', name: 'login', component: LoginView, meta: { public: true, title: 'Log in' } },
    { path: '/', name: 'overview', component: OverviewView, meta: { title: 'Overview' } },
    { path: '/jobs', name: 'jobs', component: JobsView, meta: { title: 'Jobs' } },
    { path: '/jobs/new', name: 'job-new', component: JobEditView, meta: { title: 'New job' } },
    { path: '/jobs/:id', name: 'job-edit', component: JobEditView, props: true, meta: { title: 'Edit job' } },
    {
      path: '/jobs/:id/replicas',
      name: 'job-replicas',
      component: ReplicasView,
      props: true,
      meta: { title: 'Replicas' },
    },
    { path: '/logs', name: 'logs', component: LogsView, meta: { title: 'Logs' } },
    { path: '/logs/:runId', name: 'run', component: RunView, props: true, meta: { title: 'Run' } },
    { path: '/restore', name: 'restore', component: RestoreView, meta: { title: 'Restore' } },
    {
      path: '/restore/files/:repositoryId/:pointId/:disk',
      name: 'files',
      component: FilesView,
      props: true,
      meta: { title: 'Files' },
    },
    { path: '/pools', name: 'pools', component: PoolsView, meta: { title: 'Pools' } },
    {
      path: '/repositories',
      name: 'repositories',
      component: RepositoriesView,
      meta: { title: 'Repositories' },
    },
    {
      path: '/repositories/:id',
      name: 'repository',
      component: RepositoryView,
      props: true,
      meta: { title: 'Restore points' },
    },
    { path: '/xo-remotes', name: 'xo-remotes', component: XoRemotesView, meta: { title: 'XO remotes' } },
    { path: '/agents', name: 'agents', component: AgentsView, meta: { title: 'Agents' } },
    { path: '/users', name: 'users', component: UsersView, meta: { title: 'Users' } },
    { path: '/settings', name: 'settings', component: SettingsView, meta: { title: 'Settings' } },
    { path: '/:pathMatch(.*)*', redirect: '/' },
  ],
})

router.beforeEach(async (to) => {
  if (to.meta.public === true) return true
  const user = await loadSession().catch(() => undefined)
  return user === undefined ? { name: 'login', query: { next: to.fullPath } } : true
})

router.afterEach((to) => {
  document.title = `${String(to.meta.title ?? '')} · Strata`
})

onUnauthenticated(() => {
  forgetSession()
  const current = router.currentRoute.value
  if (current.meta.public !== true) void router.replace({ name: 'login', query: { next: current.fullPath } })
})
