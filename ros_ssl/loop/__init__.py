"""The learning loop's workstation side: the drop folder of bags in, the models folder of packages out.

``drop`` finds complete bags in the drop folder; ``models`` publishes packages atomically, keeps their
history and rolls back; ``learner`` runs the rounds (label -> fine-tune -> evaluate -> export -> publish).
The folder contracts shared with the robot side are in the README ("The robot keeps learning").
"""

from ros_ssl.loop.drop import DropBag, bag_problem, drop_bags
from ros_ssl.loop.models import ModelsDir

__all__ = ["DropBag", "ModelsDir", "bag_problem", "drop_bags"]
