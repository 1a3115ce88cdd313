/**
 * `eventuali forget SUBJECT`: destroys a data subject's keys (`Privacy.forget`), after which the
 * subject's personal fields read as their replacements everywhere. Irreversible, so it asks for
 * confirmation on a terminal and refuses without `--yes` elsewhere.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Privacy from "@eventuali/core/Privacy"
import { Console, Effect } from "effect"
import { confirm, json, nonEmptyArgument, url, withStore, yes } from "./common.js"
import * as Output from "./output.js"

const subject = nonEmptyArgument("subject-id", "a subject id").pipe(Args.withDescription("The data subject's id (as the schemas' Privacy.personal subject says)"))


export const forget = Command.make("forget", { url, json, subject, yes }, (options) =>
  withStore(
    options.url,
    { create: false },
    Effect.gen(function*() {
      yield* confirm(
        options.yes,
        `Destroy the keys of subject ${JSON.stringify(options.subject)}? Their personal data becomes unreadable for good.`
      )
      const hadKeys = yield* Privacy.forget(options.subject)
      yield* Console.log(
        options.json
          ? Output.json({ subject: options.subject, forgotten: hadKeys })
          : hadKeys
          ? `Subject ${JSON.stringify(options.subject)}: keys destroyed. Their personal fields now read as the schemas' replacements.`
          : `Subject ${JSON.stringify(options.subject)} had no keys: nothing of theirs is sealed in this store.`
      )
    })
  )).pipe(
    Command.withDescription(
      "Crypto-shred a data subject: destroy their keys, so that the personal fields of their events and snapshots (Privacy.personal) read as the declared replacements from now on. Cannot be undone."
    )
  )
