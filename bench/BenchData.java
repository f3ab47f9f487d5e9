// The benchmark data sets of bench/run.py, written as SSTables by Cassandra's own
// CQLSSTableWriter and then handed to the node with `nodetool import`. Inserting through CQL
// (even in unlogged batches) runs the node's write path, which tops out near 55k narrow and
// 10k wide rows/s on a 2-core machine that also runs the node; writing SSTables does not.
//
//   java -cp 'CASSANDRA_LIB/*' bench/BenchData.java DATASET --schema     prints CREATE TABLE
//   java -Dcassandra.config=file:///NODE/cassandra.yaml -cp 'CASSANDRA_LIB/*' \
//        bench/BenchData.java DATASET ROWS DIR [JMX_PORT]              writes the SSTables
//
// With JMX_PORT, the SSTables are imported into the node at 127.0.0.1:JMX_PORT (and the
// snapshots of the keyspace, which DROP TABLE leaves behind, cleared first) by nodetool run
// in this JVM: each JVM start costs about a second, a lot next to 100k rows.
//
// The node's cassandra.yaml matters: tool initialization reads its storage_compatibility_mode,
// so the files get the SSTable version the node writes itself (`nb` in Cassandra 5.0's
// default CASSANDRA_4 mode). The writer's client mode would write `oa`, which such a node
// does not import ("No new SSTables were found").
//
// DATASET: narrow (bigint key + 10 bigints), typical (~200 B: uuid key, timestamp
// clustering, text, double, map<text,text>, set<int>), wide (100 mixed scalar columns),
// fat (10 KB blobs). Values are a pure function of the row number, the same values the
// CQL generator it replaced inserted (`cqlbulk verify` found both tables identical).

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.stream.IntStream;

import org.apache.cassandra.config.DatabaseDescriptor;
import org.apache.cassandra.db.marshal.AbstractType;
import org.apache.cassandra.db.marshal.BooleanType;
import org.apache.cassandra.db.marshal.DoubleType;
import org.apache.cassandra.db.marshal.Int32Type;
import org.apache.cassandra.db.marshal.LongType;
import org.apache.cassandra.db.marshal.MapType;
import org.apache.cassandra.db.marshal.SetType;
import org.apache.cassandra.db.marshal.TimestampType;
import org.apache.cassandra.db.marshal.UTF8Type;
import org.apache.cassandra.db.marshal.UUIDType;
import org.apache.cassandra.dht.Murmur3Partitioner;
import org.apache.cassandra.io.sstable.CQLSSTableWriter;
import org.apache.cassandra.tools.INodeProbeFactory;
import org.apache.cassandra.tools.NodeProbe;
import org.apache.cassandra.tools.NodeTool;
import org.apache.cassandra.tools.Output;

public class BenchData {
    static final String KEYSPACE = "cqlbulk_bench";
    static final String[] WIDE_TYPES = {"int", "bigint", "text", "double", "boolean", "timestamp", "uuid"};
    static final long EPOCH_2026_MS = 1_767_225_600_000L;
    static final MapType<String, String> TEXT_MAP = MapType.getInstance(UTF8Type.instance, UTF8Type.instance, false);
    static final SetType<Integer> INT_SET = SetType.getInstance(Int32Type.instance, false);

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: BenchData DATASET --schema | BenchData DATASET ROWS DIR [JMX_PORT]");
            System.exit(2);
        }
        String dataset = args[0];
        List<String[]> columns = columns(dataset);
        String create = "CREATE TABLE " + KEYSPACE + "." + dataset + " (" + definition(dataset, columns) + ")";
        if (args[1].equals("--schema")) {
            System.out.println(create);
            return;
        }
        long rows = Long.parseLong(args[1]);
        File out = new File(args[2]);
        if (!out.isDirectory() && !out.mkdirs()) {
            throw new IllegalStateException("cannot create " + out);
        }
        Integer jmxPort = args.length > 3 ? Integer.valueOf(args[3]) : null;
        DatabaseDescriptor.toolInitialization(false);
        if (jmxPort != null) {
            nodetool(jmxPort, "clearsnapshot", "--all", "--", KEYSPACE);
        }
        List<String> names = new ArrayList<>();
        for (String[] column : columns) {
            names.add(column[0]);
        }
        String insert = "INSERT INTO " + KEYSPACE + "." + dataset + " (" + String.join(", ", names) + ") VALUES ("
                + String.join(", ", Collections.nCopies(names.size(), "?")) + ")";
        Values values = new Values(dataset, names);
        long started = System.nanoTime();
        int rowsPerPartition = dataset.equals("typical") ? 2 : 1;
        int[] order = partitionsInTokenOrder(rows, rowsPerPartition, values);
        // Sorted mode: rows arrive in token order and stream straight into SSTables, with no
        // buffer to fill, sort and flush.
        try (CQLSSTableWriter writer = CQLSSTableWriter.builder()
                .inDirectory(out.getPath())
                .forTable(create)
                .using(insert)
                .sorted()
                .build()) {
            ByteBuffer[] row = new ByteBuffer[names.size()];
            for (int partition : order) {
                for (int k = 0; k < rowsPerPartition; k++) {
                    long i = (long) partition * rowsPerPartition + k;
                    if (i >= rows) {
                        break;
                    }
                    for (int c = 0; c < row.length; c++) {
                        row[c] = values.of(c, i);
                    }
                    writer.rawAddRow(row);
                }
            }
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        System.err.printf("BenchData: %d %s rows as SSTables in %.1fs (%.0f rows/s)%n", rows, dataset, seconds,
                rows / seconds);
        if (jmxPort != null) {
            nodetool(jmxPort, "import", KEYSPACE, dataset, out.getPath());
        }
    }

    static void nodetool(int jmxPort, String... command) {
        INodeProbeFactory probes = new INodeProbeFactory() {
            public NodeProbe create(String host, int port) throws IOException {
                return new NodeProbe(host, port);
            }

            public NodeProbe create(String host, int port, String user, String password) throws IOException {
                return new NodeProbe(host, port, user, password);
            }
        };
        List<String> args = new ArrayList<>(List.of("-h", "127.0.0.1", "-p", String.valueOf(jmxPort)));
        args.addAll(List.of(command));
        int status = new NodeTool(probes, Output.CONSOLE).execute(args.toArray(new String[0]));
        if (status != 0) {
            throw new IllegalStateException("nodetool " + String.join(" ", command) + " failed with status " + status);
        }
    }

    /** The partition numbers of the data set sorted by their Murmur3 token, as sorted mode needs. */
    static int[] partitionsInTokenOrder(long rows, int rowsPerPartition, Values values) {
        int partitions = Math.toIntExact((rows + rowsPerPartition - 1) / rowsPerPartition);
        long[] tokens = new long[partitions];
        for (int p = 0; p < partitions; p++) {
            ByteBuffer key = values.of(0, (long) p * rowsPerPartition);
            tokens[p] = Murmur3Partitioner.instance.getToken(key).getLongValue();
        }
        return IntStream.range(0, partitions).boxed()
                .sorted(Comparator.comparingLong(p -> tokens[p]))
                .mapToInt(Integer::intValue)
                .toArray();
    }

    /** (name, CQL type) of every column, key columns first. */
    static List<String[]> columns(String dataset) {
        List<String[]> columns = new ArrayList<>();
        switch (dataset) {
            case "narrow":
                columns.add(new String[] {"id", "bigint"});
                for (int i = 1; i <= 10; i++) {
                    columns.add(new String[] {"c" + i, "bigint"});
                }
                break;
            case "typical":
                columns.add(new String[] {"id", "uuid"});
                columns.add(new String[] {"ts", "timestamp"});
                columns.add(new String[] {"name", "text"});
                columns.add(new String[] {"score", "double"});
                columns.add(new String[] {"attrs", "map<text, text>"});
                columns.add(new String[] {"tags", "set<int>"});
                break;
            case "wide":
                columns.add(new String[] {"id", "bigint"});
                for (int i = 0; i < 99; i++) {
                    columns.add(new String[] {"c" + i, WIDE_TYPES[i % WIDE_TYPES.length]});
                }
                break;
            case "fat":
                columns.add(new String[] {"id", "bigint"});
                columns.add(new String[] {"payload", "blob"});
                break;
            default:
                throw new IllegalArgumentException("unknown dataset " + dataset + ": narrow, typical, wide or fat");
        }
        return columns;
    }

    static String definition(String dataset, List<String[]> columns) {
        List<String> parts = new ArrayList<>();
        for (String[] column : columns) {
            parts.add(column[0] + " " + column[1]);
        }
        parts.add(dataset.equals("typical") ? "PRIMARY KEY (id, ts)" : "PRIMARY KEY (id)");
        return String.join(", ", parts);
    }

    /** The serialized value of every column of row `i`. */
    static final class Values {
        final String dataset;
        final List<String> names;
        /** The 256 different fat payloads: byte j of row i is payload[j] ^ (byte) i. */
        final ByteBuffer[] payloads = new ByteBuffer[256];

        Values(String dataset, List<String> names) {
            this.dataset = dataset;
            this.names = names;
            for (int variant = 0; variant < payloads.length; variant++) {
                byte[] blob = new byte[10_240];
                for (int j = 0; j < blob.length; j++) {
                    blob[j] = (byte) ((j * 31 % 251) ^ variant);
                }
                payloads[variant] = ByteBuffer.wrap(blob);
            }
        }

        static UUID uuidOf(long i) {
            return new UUID(0xbe4c_0000_0000_4000L, 0x8000_0000_0000_0000L | i);
        }

        ByteBuffer of(int position, long i) {
            String name = names.get(position);
            if (name.equals("id")) {
                return dataset.equals("typical") ? UUIDType.instance.decompose(uuidOf(i / 2)) : LongType.instance.decompose(i);
            }
            switch (dataset) {
                case "narrow":
                    return LongType.instance.decompose(i * 31 + name.length());
                case "typical":
                    switch (name) {
                        case "ts":
                            return TimestampType.instance.decompose(new Date(EPOCH_2026_MS + (i % 2) * 60_000));
                        case "name":
                            return UTF8Type.instance.decompose("customer number " + i + " of the benchmark");
                        case "score":
                            return DoubleType.instance.decompose(Math.sqrt(i));
                        case "attrs": {
                            Map<String, String> attrs = new LinkedHashMap<>();
                            attrs.put("region", "region-" + (i % 17));
                            attrs.put("tier", new String[] {"gold", "silver", "bronze"}[(int) (i % 3)]);
                            return TEXT_MAP.decompose(attrs);
                        }
                        default: {
                            Set<Integer> tags = new LinkedHashSet<>();
                            for (int k = 0; k < 3; k++) {
                                tags.add((int) (i % 100) + k);
                            }
                            return INT_SET.decompose(tags);
                        }
                    }
                case "wide": {
                    int index = position - 1;
                    switch (index % 7) {
                        case 0: return Int32Type.instance.decompose((int) i * 7);
                        case 1: return LongType.instance.decompose(i * 1000 + index);
                        case 2: return UTF8Type.instance.decompose("v" + i + "-" + index);
                        case 3: return DoubleType.instance.decompose(i / (index + 1.0));
                        case 4: return BooleanType.instance.decompose(i % 2 == 0);
                        case 5: return TimestampType.instance.decompose(new Date(EPOCH_2026_MS + i));
                        default: return UUIDType.instance.decompose(uuidOf(i * 100 + index));
                    }
                }
                default:
                    return payloads[(int) (i & 0xff)].duplicate();
            }
        }
    }
}
