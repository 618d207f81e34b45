"""The `durable` command line (installed as `durable.cli`): thin typer commands over the SDK,
the dev server and the inspector. The entry point is `durable.cli.main:main`."""
