/**
 * @since 0.1.0
 */

/** The UI: `layer` mounts it into an application's HTTP server, `httpApp` serves it anywhere. @since 0.1.0 */
export * as EventualiUi from "./EventualiUi.js"

/** The UI's HTTP API: endpoints, schemas, errors. @since 0.1.0 */
export * as UiApi from "./UiApi.js"
