/* Minimal librdkafka consumer: the raw consume rate that `streamscore bench` compares the Swift
 * KafkaConsumer with. Same tuned queue settings as the Swift consumer's defaults.
 * usage: c_consumer BOOTSTRAP TOPIC GROUP COUNT
 * prints: c_consumer: N msgs in S s = R msgs/s   (timed from the first message to the Nth) */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "c_consumer: %s=%s: %s\n", k, v, err);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: c_consumer BOOTSTRAP TOPIC GROUP COUNT\n");
        return 2;
    }
    long target = atol(argv[4]);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "group.id", argv[3]);
    set(conf, "enable.auto.commit", "false");
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "queued.min.messages", "1000000");
    set(conf, "queued.max.messages.kbytes", "262144");
    set(conf, "session.timeout.ms", "10000");
    set(conf, "heartbeat.interval.ms", "500");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "c_consumer: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, argv[2], RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    long count = 0;
    size_t bytes = 0;
    double start = 0, deadline = now() + 120;
    while (count < target && now() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err) {
            if (count == 0) start = now();
            count++;
            bytes += m->len;
        }
        rd_kafka_message_destroy(m);
    }
    double elapsed = now() - start;
    printf("c_consumer: %ld msgs in %.3f s = %.0f msgs/s (%zu bytes)\n", count, elapsed, count / elapsed, bytes);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return count == target ? 0 : 1;
}
