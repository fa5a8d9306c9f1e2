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

  async list(): Promise<Webhook[]> {
    return ((await this.db.all('SELECT * FROM webhooks ORDER BY name')) as Row[]).map(view)
  }

  async get(id: string): Promise<Webhook> {
    return view(await this.#row(id))
  }

  async secret(id: string): Promise<string> {
    return this.box.open((await this.#row(id)).secret_sealed, webhookSecretField(id))
  }

  async create(input: WebhookInput): Promise<Webhook> {
    const count = ((await this.db.get('SELECT COUNT(*) AS n FROM webhooks')) as { n: number }).n
    if (count >= MAX_WEBHOOKS)
      throw conflict(`${MAX_WEBHOOKS} webhooks exist already; delete one first`, 'TOO_MANY_WEBHOOKS')
    await this.#uniqueName(input.name)
    const id = newId('hook')
    await this.db.run(
      'INSERT INTO webhooks (id, name, url, secret_sealed, enabled, created) VALUES (?, ?, ?, ?, ?, ?)',
      [
        id,
        input.name,
        input.url,
        this.box.seal(input.secret, webhookSecretField(id)),
        input.enabled === false ? 0 : 1,
        Date.now(),
      ],
    )
    return this.get(id)
  }

  async update(id: string, patch: WebhookPatch): Promise<Webhook> {
    const row = await this.#row(id)
    if (patch.name !== undefined && patch.name !== row.name) await this.#uniqueName(patch.name)
    await this.db.run('UPDATE webhooks SET name = ?, url = ?, secret_sealed = ?, enabled = ? WHERE id = ?', [
      patch.name ?? row.name,
      patch.url ?? row.url,
      patch.secret === undefined ? row.secret_sealed : this.box.seal(patch.secret, webhookSecretField(id)),
      patch.enabled === undefined ? row.enabled : patch.enabled ? 1 : 0,
      id,
    ])
    return this.get(id)
  }

  async delete(id: string): Promise<void> {
    await this.#row(id)
    await this.db.run('DELETE FROM webhooks WHERE id = ?', [id])
  }

  async #uniqueName(name: string): Promise<void> {
    if ((await this.db.get('SELECT 1 FROM webhooks WHERE name = ?', [name])) !== undefined)
      throw conflict(`a webhook named '${name}' exists already`)
  }

  async #row(id: string): Promise<Row> {
    const row = (await this.db.get('SELECT * FROM webhooks WHERE id = ?', [id])) as Row | undefined
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
