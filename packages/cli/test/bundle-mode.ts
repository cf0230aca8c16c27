// Jest project `bundle`: runCli runs packages/cli/dist/bin.js instead of the sources.
process.env.LAUNCH_AGENT_TEST_BUNDLE = '1';
