"""`python -m text2sql_cli ...`, and `accelerate launch -m text2sql_cli train ...`."""

from text2sql_cli.cli import main

if __name__ == "__main__":
    main()
