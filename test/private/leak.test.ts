/**
 * Issue 13's proof that nothing leaks. User A writes private files holding random markers
 * and sends a message holding another to a user on another node, while three other nodes
 * are connected and fetch or carry A's blocks and messages: A's second device (linked with
 * `userLink`, it reads the files back), a follower that fetches every block A holds for its
 * private data, and the message's recipient, which fetches them too. Then every file under
 * every node's home, and the reassembled TCP streams of a loopback capture (tcpdump) of the
 * whole exchange, are searched for the markers in clear: zero hits, except where the reader
 * is meant to have them (the recipient's inbox holds the letter it opened).
 *
 * Each marker is 32 random bytes written as hex (a chance hit would need 2^-256 luck), and
 * searched for also as base64 at each of the three alignments, so a store or a wire format
 * that base64s its payload is caught too. Controls show each search can find what it looks
 * for: a public file of the site must be found in the followers' homes, and the capture must
 * hold the multistream and TLS protocol names (the only bytes libp2p sends in clear), all
 * of the bulk that crossed, with no packet dropped and no hole in any stream.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { importPath } from '../../src/content/index.ts'
import { messagesTopic } from '../../src/private/index.ts'
import { startCapture } from '../helpers/capture.ts'
import { tmpDir } from '../helpers/home.ts'
import { createTestNode, type OnlineNode } from '../helpers/testnet.ts'
import { until } from '../helpers/until.ts'

const MiB = 1024 * 1024
/** Long enough to cross several 1 MiB chunks and sealing segments, so a leak of any one would show. */
const BIG_FILE_BYTES = 3 * MiB + 12_345
/** The marker is repeated through the big file at this stride: every chunk of it holds some. */
const MARKER_STRIDE = 64 * 1024
const WAIT_MS = 60_000

function marker (what: string): string {
  return `weft-${what}-${randomBytes(32).toString('hex')}`
}

/** The marker as written, and as base64 at each alignment (the characters no neighbour byte touches). */
function needles (text: string): Buffer[] {
  const bytes = Buffer.from(text)
  const out = [bytes]
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64')
    // the first chars mix in the padding bytes, the last ones whatever follows
    const start = Math.ceil(shift * 4 / 3) + 1
    out.push(Buffer.from(b64.slice(start, b64.length - 4)))
  }
  return out
}

function hits (haystack: Buffer, text: string): number {
  let n = 0
  for (const needle of needles(text)) {
    for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) n++
  }
  return n
}

async function filesUnder (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name))
  }
  return out
}

/** Every file under a home (blocks and packs, weft.db and its WAL, keys, config) with how often each marker is in it. */
async function searchHome (home: string, markers: Record<string, string>): Promise<{ files: string[], found: Record<string, string[]> }> {
  const files = await filesUnder(home)
  const found: Record<string, string[]> = Object.fromEntries(Object.keys(markers).map(k => [k, []]))
  for (const file of files) {
    let bytes: Buffer
    try {
      bytes = await readFile(file)
    } catch (err) {
      // the db's -shm or -journal may come and go as the node works
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    for (const [name, text] of Object.entries(markers)) {
      if (hits(bytes, text) > 0) found[name].push(file.slice(home.length + 1))
    }
  }
  return { files, found }
}

function portOf (node: OnlineNode): number {
  const match = /^\/ip4\/127\.0\.0\.1\/tcp\/(\d+)/.exec(node.libp2p.getMultiaddrs()[0]?.toString() ?? '')
  assert.ok(match !== null, 'each node listens on a TCP port of 127.0.0.1')
  return Number(match[1])
}

async function publishSite (t: TestContext, owner: OnlineNode, followers: OnlineNode[], publicText: string): Promise<string> {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'index.html'), `<h1>a forum</h1><p>${publicText}</p>`)
  const { root } = await importPath(owner.blocks, dir, {})
  await owner.blocks.pin(root.cid, 'recursive')
  await owner.sites.create('forum')
  const { name } = await owner.sites.publish('forum', root.cid)
  for (const f of followers) {
    await f.sites.follow(name)
    await until('a follower to hold the site', async () => (await f.sites.following()).some(x => x.name === name && x.fetched), WAIT_MS)
  }
  return name
}

test('leak: A\'s private files and message cross three other nodes and the wire sealed; only A\'s second device reads the files, only the recipient the message', { timeout: 300_000 }, async t => {
  // the nodes start unlinked: nothing dials out until the capture is running
  const a = await createTestNode(t)
  const device2 = await createTestNode(t)
  const follower = await createTestNode(t)
  const recipient = await createTestNode(t)
  const nodes = [a, device2, follower, recipient]
  const others = [device2, follower, recipient]
  const capture = await startCapture(t, nodes.map(portOf))

  for (let i = 0; i < nodes.length; i++) {
    for (const target of nodes.slice(i + 1)) await nodes[i].libp2p.dial(target.libp2p.getMultiaddrs()[0])
  }
  await until('every node connected to every other', () => nodes.every(n => n.libp2p.getConnections().length >= nodes.length - 1))

  const markers = {
    content: marker('private-content'),
    path: marker('private-path'),
    message: marker('message'),
    public: marker('public-control')
  }
  const site = await publishSite(t, a, [follower, recipient], markers.public)

  // A's second device: linked over /weft/user-link/1.0.0, then the person uses the site there
  a.users.id(site)
  const { code } = a.userLink!.issue()
  await device2.userLink!.accept(code)
  assert.equal(device2.users.id(site), a.users.id(site), 'the linked device is the same person on the site')
  device2.users.allow(site, true)

  // private files: a small note named by a marker, and a big file the content marker runs through
  const note = Buffer.from(`draft: ${markers.content}\n`)
  const big = randomBytes(BIG_FILE_BYTES)
  for (let at = 0; at + markers.content.length <= big.byteLength; at += MARKER_STRIDE) big.write(markers.content, at)
  const notePath = `drafts/${markers.path}.md`
  await a.private.put(site, notePath, note)
  await a.private.put(site, 'big.bin', big)

  // a message to the user on the recipient's node, carried by the follower (and A's other device, if it carries)
  await until('the site\'s carriers on its messages topic', () => {
    const subscribers = a.libp2p.services.pubsub.getSubscribers(messagesTopic(site)).map(p => p.toString())
    return [follower, recipient].every(n => subscribers.includes(n.libp2p.peerId.toString()))
  }, WAIT_MS)
  const letter = `hello from A: ${markers.message}`
  const sent = await a.messages.send(site, recipient.users.id(site), Buffer.from(letter))
  assert.ok(sent.announced)

  // the second device takes A's index over sync and reads the files back through its store
  await until('the second device to list A\'s files', () => device2.private.list(site).length === 2, WAIT_MS)
  assert.deepEqual(device2.private.list(site).map(e => e.path), ['big.bin', notePath])
  assert.deepEqual(Buffer.from(await device2.private.get(site, notePath, { signal: AbortSignal.timeout(WAIT_MS) })), note)
  assert.deepEqual(Buffer.from(await device2.private.get(site, 'big.bin', { signal: AbortSignal.timeout(WAIT_MS) })), big)

  // the follower and the recipient fetch every block A holds for its private data (and its index)
  const roots = a.private.heldRoots()
  assert.ok(roots.length >= 3, 'the index and both files')
  for (const node of [follower, recipient]) {
    for (const root of roots) await node.exchange.fetch(root, { recursive: true, signal: AbortSignal.timeout(WAIT_MS) })
    assert.ok(roots.every(r => node.blocks.has(r)))
  }
  // the message: carried by the follower, opened by its recipient only
  await until('the follower to carry the envelope', () => follower.messages.info(site).held >= 1, WAIT_MS)
  await until('the recipient to open the letter', () => recipient.messages.list(site).length === 1, WAIT_MS)
  assert.equal(Buffer.from(recipient.messages.list(site)[0].body).toString(), letter)
  assert.deepEqual(follower.messages.list(site), [])
  // nothing the others hold opens for them: the follower and the recipient are other people
  for (const node of [follower, recipient]) assert.deepEqual(node.private.list(site), [])

  const captured = await capture.stop()

  // the homes, while the nodes run (the db's WAL is there now), then once more after they stop (checkpointed)
  // 'never' is the proof; 'may' is a reader meant to hold it (how it keeps it is its own business); 'must' is the control
  const expectedIn = (node: OnlineNode): Record<string, 'never' | 'may' | 'must'> => ({
    content: 'never',
    path: node === device2 ? 'may' : 'never', // the second device keeps its opened index (names, not contents) in its db
    message: node === recipient ? 'may' : 'never', // the recipient keeps the letter it opened in its inbox
    public: node === follower || node === recipient ? 'must' : 'may' // the control: followers hold the site's public blocks
  })
  const checkHomes = async (when: string): Promise<void> => {
    for (const node of [a, ...others]) {
      const { files, found } = await searchHome(node.repo.paths.home, markers)
      assert.ok(files.some(f => f.endsWith('weft.db')), `${when}: the search read the home's database`)
      if (when === 'running') assert.ok(files.some(f => f.endsWith('weft.db-wal')), `${when}: the search read the database's write-ahead log`)
      assert.ok(files.some(f => f.startsWith(node.repo.paths.blocks)), `${when}: the search read the home's blocks`)
      const who = node === a ? 'A' : node === device2 ? 'A\'s second device' : node === follower ? 'the follower' : 'the recipient'
      for (const [name, expected] of Object.entries(expectedIn(node))) {
        if (node === a && name !== 'content') continue // A wrote these: only its file contents must not be there in clear
        if (expected === 'must') assert.ok(found[name].length > 0, `${when}: ${who}'s home holds the ${name} marker (the search finds what is there)`)
        if (expected === 'never') assert.deepEqual(found[name], [], `${when}: the ${name} marker in clear in ${who}'s home`)
      }
    }
  }
  await checkHomes('running')

  // the capture worked: packets, the protocol names sent in clear, all the bulk, nothing dropped or missing
  assert.ok(captured.packets > 0 && captured.streams.length > 0, 'the capture is not empty')
  assert.equal(captured.dropped, 0, 'tcpdump dropped no packet')
  assert.equal(captured.truncated, 0, 'no packet was cut short')
  assert.deepEqual(captured.streams.filter(s => s.holes > 0).map(s => s.flow), [], 'no stream has a hole')
  const wire = Buffer.concat(captured.streams.map(s => s.bytes))
  assert.ok(wire.includes('/multistream/1.0.0'), 'the capture holds the multistream handshake, sent in clear')
  // weft's own networks offer TLS first (src/net/index.ts); Noise stays for IPFS peers
  assert.ok(wire.includes('/tls/1.0.0'), 'the capture holds the TLS protocol name, sent in clear')
  // the big file crossed at least three times: to the second device, the follower and the recipient
  assert.ok(captured.payloadBytes > 3 * BIG_FILE_BYTES, `the capture holds the bulk (${captured.payloadBytes} bytes)`)
  for (const [name, text] of Object.entries(markers)) {
    assert.equal(hits(wire, text), 0, `the ${name} marker in clear on the wire`)
    assert.equal(hits(captured.file, text), 0, `the ${name} marker in clear in the pcap file`)
  }

  for (const node of nodes) await node.stop()
  await checkHomes('stopped')
})
