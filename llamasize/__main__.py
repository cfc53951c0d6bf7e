"""Allow ``python -m llamasize``."""

from llamasize.cli import main

if __name__ == "__main__":
    main()
