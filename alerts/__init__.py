"""Detection, routing and notification: pure logic over records, no Kafka or search imports."""
