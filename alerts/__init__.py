"""Detection, routing and notification: pure logic over records, no Kafka or search imports."""

from alerts.native import use

use(__path__)  # detection compiled from this very source, where `make native` built it
