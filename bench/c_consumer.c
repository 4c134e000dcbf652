/* Minimal librdkafka consumer: the raw consume rate that `streamscore bench` compares the Swift
 * KafkaConsumer with. The counter subscriber's queue settings (256 MiB prefetch; the prediction
 * subscriber's default is 32 MiB).
 * usage: c_consumer BOOTSTRAP TOPIC GROUP COUNT [latency]
 * prints: c_consumer: N msgs in S s = R msgs/s   (timed from the first message to the Nth)
 * With `latency` it starts at the log end and prints, over COUNT messages, the transport latency
 * (wall clock at receipt − the message's CreateTime, set by the producer):
 *         c_consumer latency: N msgs p50 X p99 Y ms */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "c_consumer: %s=%s: %s\n", k, v, err);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc != 5 && !(argc == 6 && strcmp(argv[5], "latency") == 0)) {
        fprintf(stderr, "usage: c_consumer BOOTSTRAP TOPIC GROUP COUNT [latency]\n");
        return 2;
    }
    long target = atol(argv[4]);
    int latency = argc == 6;
    double *latencies = latency ? malloc(sizeof(double) * (size_t)target) : NULL;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "group.id", argv[3]);
    set(conf, "enable.auto.commit", "false");
    set(conf, "auto.offset.reset", latency ? "latest" : "earliest");
    set(conf, "fetch.wait.max.ms", "5");
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
    double start = 0, deadline = now() + 120, last = 0;
    while (count < target && now() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        /* Latency mode: the load is over when nothing arrived for 3 s (a late join misses its first events). */
        if (!m) {
            if (latency && count > 0 && now() - last > 3) break;
            continue;
        }
        last = now();
        if (!m->err) {
            if (count == 0) start = now();
            if (latency) latencies[count] = wall_ms() - (double)rd_kafka_message_timestamp(m, NULL);
            count++;
            bytes += m->len;
        }
        rd_kafka_message_destroy(m);
    }
    double elapsed = now() - start;
    if (latency && count > 0) {
        qsort(latencies, (size_t)count, sizeof(double), compare);
        printf("c_consumer latency: %ld msgs p50 %.1f p99 %.1f ms\n", count, latencies[count / 2], latencies[count * 99 / 100]);
    } else {
        printf("c_consumer: %ld msgs in %.3f s = %.0f msgs/s (%zu bytes)\n", count, elapsed, count / elapsed, bytes);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return count == target ? 0 : 1;
}
