/**
 * Hiding secrets in what the store shows: connection strings in errors, logs and CLI output.
 *
 * @since 0.1.0
 */

/**
 * The connection string with any password replaced by `***`, safe for errors and logs: the
 * password of `scheme://user:password@host`, of `user:password@host`, and `password=`, `pass=`
 * or `pwd=` query values.
 *
 * @since 0.1.0
 * @category formatting
 */
export const redactUrl = (url: string): string =>
  // The password runs to the last "@" before the query, as URL parsers read it: "p@ss" is hidden
  // whole, and so is a password with a raw "/" or "#" (not a valid URL, but a real password).
  url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^?]*@/i, "$1***@")
    // user:password@host without a scheme
    .replace(/^([^/?#@:]+:)(?!\/\/)[^/?#]*@/, "$1***@")
    .replace(/([?&](?:password|pass|pwd)=)[^&#]*/gi, "$1***")
