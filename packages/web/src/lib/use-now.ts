import { onMounted, onUnmounted, ref } from 'vue'

/** The current time, updated every `intervalMs` while the component lives: live durations and ETAs. */
export function useNow(intervalMs = 500) {
  const now = ref(Date.now())
  let timer: ReturnType<typeof setInterval> | undefined
  onMounted(() => (timer = setInterval(() => (now.value = Date.now()), intervalMs)))
  onUnmounted(() => clearInterval(timer))
  return now
}
