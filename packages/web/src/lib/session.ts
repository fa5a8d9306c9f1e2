// Who is logged in, and what their role lets them do. The server enforces roles; the UI only hides
// or disables what would be refused.
import { computed, ref } from 'vue'
import { ApiError, api } from '../api/client'
import { closeEvents } from '../api/events'
import type { User } from '@strata/contract'

export const currentUser = ref<User | undefined>()
let checked = false

/** The logged-in user, asking the server once per page load. */
export async function loadSession(): Promise<User | undefined> {
  if (checked) return currentUser.value
  try {
    currentUser.value = await api.me()
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) throw error
    currentUser.value = undefined
  }
  checked = true
  return currentUser.value
}

export async function login(username: string, password: string, totp?: string): Promise<User> {
  const { user } = await api.login(username, password, totp)
  currentUser.value = user
  checked = true
  return user
}

export async function logout(): Promise<void> {
  closeEvents()
  try {
    await api.logout()
  } finally {
    forgetSession()
  }
}

/** The server said 401: the session expired or was deleted. */
export function forgetSession(): void {
  closeEvents()
  currentUser.value = undefined
  checked = true
}

/** Admins change configuration. */
export const canAdmin = computed(() => currentUser.value?.role === 'admin')
/** Admins and operators run jobs and restores. */
export const canOperate = computed(
  () => currentUser.value?.role === 'admin' || currentUser.value?.role === 'operator',
)
