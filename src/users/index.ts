/**
 * Users of sites: an identity per site derived from one master key, contributions under
 * the owner's rules, and a database per site built from them (weft issue 12).
 */
export {
  createUserIdentity, siteUserKey, userIdOf, readUserKey, ensureUserKey, exportUserKey, unsealUserKey,
  MASTER_KEY_BYTES, USER_KEY_HEADER, type UserIdentity, type UserIdentityComponents, type ImportResult
} from './identity.ts'
export {
  parseUserRules, checkContribution, bannedUsers, globMatch, pathProblem, isUserId,
  MAX_PATTERNS, MAX_PATTERN_CHARS, MAX_PATH_BYTES, MAX_FILES_CEILING, MAX_BYTES_CEILING, MAX_BANNED, MAX_MODERATORS, MAX_MODERATOR_BANS, BANS_FILE,
  type UserRules, type ContributionCheck
} from './rules.ts'
