"""Every side effect of the service: prompt rendering, the Codegen API and the GitHub API."""
