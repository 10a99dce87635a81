#!/usr/bin/env python
import os
import sys

# Writing or checking migration files is development work, never a server: it needs none of
# the production secrets that lims.settings demands when DEBUG is off (a server started without
# DEBUG still refuses to start without them).
DEVELOPMENT_COMMANDS = {"makemigrations"}


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lims.settings")
    if len(sys.argv) > 1 and sys.argv[1] in DEVELOPMENT_COMMANDS:
        os.environ.setdefault("DEBUG", "True")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
