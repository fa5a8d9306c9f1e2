// Webhooks in the database: a name, the URL reports are POSTed to, and the secret that signs them,
// sealed with the server key and bound to the webhook's row. The secret is write-only: it is never
// returned nor logged. A URL may hold a secret of its own (chat services put a token in the path), so
// logs name a webhook by its name and the URL's origin only.
import { MAX_WEBHOOKS, type Webhook, type WebhookInput, type WebhookPatch } from '@strata/contract'
import type { Db } from '../db/database.js'
import { conflict, notFound } from '../errors.js'
import { newId } from '../ids.js'
import type { SecretBox } from '../secret-box.js'
import { webhookSecretField } from '../secret-fields.js'

interface Row {
  id: string
  name: string
  url: string
  secret_sealed: string
  enabled: number
  created: number
}

export class WebhookStore {
  constructor(
    readonly db: Db,
    readonly box: SecretBox,
  ) {}

  list(): Webhook[] {
    return (this.db.prepare('SELECT * FROM webhooks ORDER BY name').all() as Row[]).map(view)
  }

  get(id: string): Webhook {
    return view(this.#row(id))
  }

  secret(id: string): string {
    return this.box.open(this.#row(id).secret_sealed, webhookSecretField(id))
  }

  create(input: WebhookInput): Webhook {
    const count = (this.db.prepare('SELECT COUNT(*) AS n FROM webhooks').get() as { n: number }).n
    if (count >= MAX_WEBHOOKS)
      throw conflict(`${MAX_WEBHOOKS} webhooks exist already; delete one first`, 'TOO_MANY_WEBHOOKS')
    this.#uniqueName(input.name)
    const id = newId('hook')
    this.db
      .prepare(
        'INSERT INTO webhooks (id, name, url, secret_sealed, enabled, created) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(
        id,
        input.name,
        input.url,
        this.box.seal(input.secret, webhookSecretField(id)),
        input.enabled === false ? 0 : 1,
        Date.now(),
      )
    return this.get(id)
  }

  update(id: string, patch: WebhookPatch): Webhook {
    const row = this.#row(id)
    if (patch.name !== undefined && patch.name !== row.name) this.#uniqueName(patch.name)
    this.db
      .prepare('UPDATE webhooks SET name = ?, url = ?, secret_sealed = ?, enabled = ? WHERE id = ?')
      .run(
        patch.name ?? row.name,
        patch.url ?? row.url,
        patch.secret === undefined ? row.secret_sealed : this.box.seal(patch.secret, webhookSecretField(id)),
        patch.enabled === undefined ? row.enabled : patch.enabled ? 1 : 0,
        id,
      )
    return this.get(id)
  }

  delete(id: string): void {
    this.#row(id)
    this.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id)
  }

  #uniqueName(name: string): void {
    if (this.db.prepare('SELECT 1 FROM webhooks WHERE name = ?').get(name) !== undefined)
      throw conflict(`a webhook named '${name}' exists already`)
  }

  #row(id: string): Row {
    const row = this.db.prepare('SELECT * FROM webhooks WHERE id = ?').get(id) as Row | undefined
    if (row === undefined) throw notFound(`webhook '${id}'`)
    return row
  }
}

function view(row: Row): Webhook {
  return { id: row.id, name: row.name, url: row.url, enabled: row.enabled === 1, created: row.created }
}

/** How logs name a webhook: its name and the URL's origin, never its path (it may hold a token). */
export function describeWebhook(hook: Pick<Webhook, 'name' | 'url'>): string {
  let origin = '?'
  try {
    origin = new URL(hook.url).origin
  } catch {
    // the contract's pattern let it in; the sender refuses it with a clear error
  }
  return `webhook '${hook.name}' (${origin})`
}
