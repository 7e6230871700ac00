/**
 * A client for tor's control protocol (control-spec.txt), the few commands weft uses:
 * PROTOCOLINFO and AUTHENTICATE (no auth, or the cookie file), TAKEOWNERSHIP, GETINFO,
 * ADD_ONION / DEL_ONION, SETEVENTS.
 *
 * Wire format: one command a line; a reply is lines of `<code><sep><text>` where sep is
 * "-" (more lines follow), "+" (a data block follows, ended by a line "."), or " " (the
 * last line). Replies come in the order the commands were sent; lines with code 650 are
 * asynchronous events and can arrive between them.
 */
import { connect, type Socket } from 'node:net'
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'

export interface ControlReply {
  code: number
  /** Each line's text after the code and separator; a data block follows its line's text after "\n". */
  lines: string[]
}

export class TorControlError extends Error {
  readonly reply: ControlReply | undefined
  constructor (message: string, reply?: ControlReply) {
    super(message)
    this.reply = reply
  }
}

type Pending = { resolve: (reply: ControlReply) => void, reject: (err: Error) => void }

export class TorControl {
  private readonly socket: Socket
  private readonly pending: Pending[] = []
  private readonly eventListeners = new Set<(line: string) => void>()
  private current: ControlReply | undefined
  private data: string[] | undefined
  private closed: Error | undefined

  private constructor (socket: Socket) {
    this.socket = socket
    const lines = createInterface({ input: socket, crlfDelay: Infinity })
    lines.on('line', line => { this.onLine(line) })
    socket.on('error', err => { this.fail(err) })
    socket.on('close', () => { this.fail(new TorControlError('the tor control connection closed')) })
  }

  /** Connects to a control port (host and port) or control socket (a path, ControlPort unix:…). */
  static async connect (to: { host: string, port: number } | { path: string }, options: { signal?: AbortSignal } = {}): Promise<TorControl> {
    const socket = connect(to)
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { socket.destroy(); reject(options.signal?.reason) }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      socket.once('connect', () => { options.signal?.removeEventListener('abort', onAbort); resolve() })
      socket.once('error', err => { options.signal?.removeEventListener('abort', onAbort); reject(err) })
    })
    return new TorControl(socket)
  }

  private fail (err: Error): void {
    if (this.closed !== undefined) return
    this.closed = err
    for (const p of this.pending.splice(0)) p.reject(err)
  }

  private onLine (line: string): void {
    if (this.data !== undefined) {
      if (line === '.') {
        const lines = this.current?.lines
        if (lines !== undefined) lines[lines.length - 1] += '\n' + this.data.join('\n')
        this.data = undefined
      } else {
        this.data.push(line.startsWith('..') ? line.slice(1) : line)
      }
      return
    }
    const code = Number(line.slice(0, 3))
    const sep = line[3]
    const text = line.slice(4)
    if (code === 650) {
      // events are one line here (weft asks only for HS_DESC, which is)
      if (sep === ' ') for (const listener of this.eventListeners) listener(text)
      return
    }
    this.current ??= { code, lines: [] }
    if (sep === '+') {
      this.current.lines.push(text)
      this.data = []
      return
    }
    this.current.lines.push(text)
    if (sep === ' ') {
      const reply = this.current
      this.current = undefined
      const p = this.pending.shift()
      if (p === undefined) return
      if (reply.code >= 200 && reply.code < 300) p.resolve(reply)
      else p.reject(new TorControlError(`tor refused: ${reply.code} ${reply.lines.join(' ')}`, reply))
    }
  }

  /** Sends one command and waits for its reply; a non-2xx reply rejects. */
  async command (line: string): Promise<ControlReply> {
    if (this.closed !== undefined) throw this.closed
    return await new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject })
      this.socket.write(line + '\r\n')
    })
  }

  /**
   * Authenticates with what tor offers: no authentication, or the cookie file
   * (CookieAuthentication 1), read from the path tor names.
   */
  async authenticate (): Promise<void> {
    const info = await this.command('PROTOCOLINFO 1')
    const auth = info.lines.find(l => l.startsWith('AUTH '))
    const methods = auth?.match(/METHODS=(\S+)/)?.[1].split(',') ?? []
    if (methods.includes('NULL')) {
      await this.command('AUTHENTICATE')
      return
    }
    const cookieFile = auth?.match(/COOKIEFILE="((?:[^"\\]|\\.)*)"/)?.[1].replace(/\\(.)/g, '$1')
    if (methods.includes('COOKIE') && cookieFile !== undefined) {
      const cookie = await readFile(cookieFile)
      await this.command(`AUTHENTICATE ${cookie.toString('hex')}`)
      return
    }
    throw new TorControlError(`tor's control port asks for ${methods.join(', ')}; weft can authenticate with none (NULL) or the cookie file (COOKIE)`)
  }

  /** GETINFO for one key: its value (a "key=value" line or a data block). */
  async getInfo (key: string): Promise<string> {
    const reply = await this.command(`GETINFO ${key}`)
    const line = reply.lines.find(l => l.startsWith(`${key}=`))
    if (line === undefined) throw new TorControlError(`tor gave no ${key}`, reply)
    return line.slice(key.length + 1).replace(/^\n/, '')
  }

  /** Calls `listener` with each asynchronous event's text (after "650 "); returns a function that stops it. */
  onEvent (listener: (line: string) => void): () => void {
    this.eventListeners.add(listener)
    return () => { this.eventListeners.delete(listener) }
  }

  close (): void {
    this.fail(new TorControlError('the tor control connection was closed'))
    this.socket.destroy()
  }
}
