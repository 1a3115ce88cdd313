/** The test projects: one per package, plus the runnable examples. */
export default ["packages/*", "examples"]
