// Gateway addresses for the web UI: where a CID, a content path or a site name opens.
// Every site is its own origin, <cidv1 base32>.ipfs.localhost:<port> or <name>.ipns.localhost:<port>;
// what the page cannot turn into a subdomain itself (a CIDv0, a DNS name) goes to the path
// gateway on localhost, which redirects to the subdomain.

const DNS_LABEL_MAX = 63

/** `:8080`, or nothing on the default port. */
function portPart (port) {
  return port === '' || port === undefined ? '' : `:${port}`
}

/** The gateway URL of a site: `http://<k51…>.ipns.localhost:<port>/`. */
export function siteUrl (name, port) {
  return `http://${name}.ipns.localhost${portPart(port)}/`
}

/** Splits `<id><rest>` where rest starts at the first `/`, `?` or `#`. */
function splitId (text) {
  const i = text.search(/[/?#]/)
  return i < 0 ? { id: text, rest: '' } : { id: text.slice(0, i), rest: text.slice(i) }
}

/**
 * The URL to open for what a person typed: a CID (`bafy…`, `Qm…`), `/ipfs/<cid>/…`,
 * `/ipns/<name>/…`, `ipfs://…`, `ipns://…`, a `k51…` key, or a name (a petname, `site.eth`,
 * a Handshake name, a DNS name), which the gateway resolves. Throws an Error with a
 * message for a person when the text is none of these.
 */
export function openUrl (input, port) {
  let text = input.trim()
  const scheme = /^(ipfs|ipns):\/\/(.*)$/i.exec(text)
  if (scheme !== null) text = `/${scheme[1].toLowerCase()}/${scheme[2]}`
  let namespace
  let parts
  const prefixed = /^\/(ipfs|ipns)\/(.*)$/.exec(text)
  if (prefixed !== null) {
    namespace = prefixed[1]
    parts = splitId(prefixed[2])
  } else {
    parts = splitId(text)
    // CIDs are long and dotless; anything else is a site's name (k51…, a petname, example.eth, a DNS name)
    namespace = /^k51/i.test(parts.id) || parts.id.includes('.') || parts.id.length < 40 ? 'ipns' : 'ipfs'
  }
  const { id } = parts
  let rest = parts.rest
  if (rest === '' || !rest.startsWith('/')) rest = '/' + rest
  const valid = namespace === 'ipfs' ? /^[A-Za-z0-9]{8,}$/.test(id) : /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(id)
  if (!valid) throw new Error('not a CID, /ipfs/ path, /ipns/ path, k51… key or name')
  const host = portPart(port)
  // base32 CIDv1 (b…) and base36 IPNS names (k51…) are DNS-safe as they are, once lowercased.
  const dnsSafe = namespace === 'ipfs' ? /^b[a-z2-7]+$/i.test(id) : /^k51[a-z0-9]+$/i.test(id)
  if (dnsSafe && id.length <= DNS_LABEL_MAX) return `http://${id.toLowerCase()}.${namespace}.localhost${host}${rest}`
  return `http://localhost${host}/${namespace}/${id}${rest}`
}

/**
 * The human-readable name in what a person typed (`site.eth`, `/ipns/blog.bit/x`, a petname),
 * or undefined for a CID, a k51… key or anything that is not a name: the names the UI asks
 * the node about before opening, to say whether the answer was proven.
 */
export function nameIn (input) {
  let text = input.trim()
  const scheme = /^ipns:\/\/(.*)$/i.exec(text)
  if (scheme !== null) text = `/ipns/${scheme[1]}`
  if (/^\/ipfs\//.test(text) || /^ipfs:\/\//i.test(text)) return undefined
  const { id } = splitId(text.replace(/^\/ipns\//, ''))
  if (/^k51/i.test(id) || /^12D3Koo/.test(id) || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(id)) return undefined
  // a dotless id of 40 characters or more is taken for a CID, as openUrl does
  if (!text.startsWith('/ipns/') && !id.includes('.') && id.length >= 40) return undefined
  return id.toLowerCase()
}
