"""``python -m ros_ssl`` is the ``ros-ssl`` command."""

from ros_ssl.cli.main import main

main()
