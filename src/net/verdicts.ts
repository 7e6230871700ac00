import type { TopicValidatorResult } from '@libp2p/gossipsub'

/**
 * gossipsub's verdicts on a message, for the topic validators of sites, users, private sync
 * and messages, without loading gossipsub itself: an offline node (`weft add`) never does.
 */
export const Verdict = {
  Accept: 'accept' as TopicValidatorResult.Accept,
  Ignore: 'ignore' as TopicValidatorResult.Ignore,
  Reject: 'reject' as TopicValidatorResult.Reject
} as const
