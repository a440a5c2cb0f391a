// Node-RED settings for bench/peer_nodered.py: a headless runtime (no editor, no admin API, no HTTP nodes),
// nothing asked of a user, warnings and errors only on the console (the bench counts the error lines).
// The flow file and the port come from the command line (red.js --port N FLOWFILE).
module.exports = {
    flowFile: "flow.json",
    flowFilePretty: true,
    credentialSecret: false,
    uiHost: "127.0.0.1",
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
    functionExternalModules: false,
    functionTimeout: 0,
    logging: { console: { level: "warn", metrics: false, audit: false } },
};
