"""Allow ``python -m llamasize``."""

from llamasize.cli.main import main

if __name__ == "__main__":
    main()
