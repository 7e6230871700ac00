import type { Command } from 'commander'
import { WeftError } from '../../errors.ts'
import { MAX_MESSAGE_BYTES } from '../../api/operations.ts'
import { formatBytes, printJson } from '../format.ts'
import { readInput } from '../input.ts'
import { withApi, writeOut } from '../context.ts'

const SITE_HELP = 'the site: its address (k51… or /ipns/k51…), the label of one of your sites, or a name that leads to one (a petname, .eth, …)'

function tooLarge (what: string): WeftError {
  return new WeftError('ERR_MESSAGE_TOO_LARGE', `${what} is over ${MAX_MESSAGE_BYTES} bytes, what one sealed message (64 KiB) can carry`)
}


export function registerMessageCommands (program: Command): void {
  const message = program.command('message').description('sealed messages to other users of a site: only the recipient can open them, and their sender is proven inside')

  message.command('send')
    .description('seal a message to a user of a site (by their id there) and hand it to the site\'s followers, who carry it until the recipient\'s node fetches it')
    .requiredOption('--site <name>', SITE_HELP)
    .argument('<user>', 'the recipient\'s user id on the site (k51…; they see it with `weft user id --site <site>`)')
    .argument('[file]', 'where the message comes from: a local file, or - (the default) for stdin')
    .option('--json', 'print { "id", "site", "from", "to", "sent", "size", "announced" } as JSON')
    .action(async (user: string, file: string | undefined, opts: { site: string, json?: boolean }, cmd: Command) => {
      const body = await readInput(file, { max: MAX_MESSAGE_BYTES, tooLarge, folder: 'a message is one file or stdin', prompt: 'type the message' })
      await withApi(cmd, async (api, where) => {
        const sent = await api.messageSend(opts.site, user, body)
        if (opts.json === true) {
          printJson(sent)
          return
        }
        const how = sent.announced
          ? 'handed to the site\'s followers'
          : where === 'daemon' ? 'held here; no follower of the site is connected yet: they ask for it when they connect' : 'held in the home; it goes out when `weft daemon` starts'
        await writeOut(`sealed a message (${formatBytes(body.byteLength)}) to ${sent.to} on ${sent.site} (${how})\nfrom  ${sent.from}\nid    ${sent.id}\n`)
      })
    })

  message.command('ls')
    .description('the messages you can open on a site, newest first, with who sent them and when')
    .requiredOption('--site <name>', SITE_HELP)
    .option('--json', 'print { "site", "me", "messages": [{ "id", "from", "sent", "body", "encoding" }], "held", "heldBytes", "rejections" } as JSON')
    .action(async (opts: { site: string, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const report = await api.messageList(opts.site)
        if (opts.json === true) {
          printJson(report)
          return
        }
        await writeOut(`you are ${report.me} on ${report.site}\n`)
        if (report.messages.length === 0) await writeOut('no messages for you yet\n')
        for (const m of report.messages) {
          const body = m.encoding === 'utf8' ? m.body : `(${formatBytes(Buffer.from(m.body, 'base64').byteLength)} of binary, base64) ${m.body}`
          await writeOut(`\nfrom  ${m.from}\nsent  ${new Date(m.sent).toISOString()}\n${body}\n`)
        }
        for (const r of report.rejections) await writeOut(`refused envelopes: ${r.count} × ${r.reason}${r.lastPeer !== undefined ? `, last from ${r.lastPeer}` : ''}\n`)
      })
    })
}
