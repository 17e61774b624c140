"""``python -m trainer --config FILE`` (what ``accelerate launch -m trainer`` runs)."""

import typer

from reflectseq.cli.train_cmd import train

typer.run(train)
