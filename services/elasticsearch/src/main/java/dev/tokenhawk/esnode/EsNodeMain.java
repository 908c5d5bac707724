package dev.tokenhawk.esnode;

import org.elasticsearch.Build;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.ClasspathPluginsNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts one real Elasticsearch node inside this JVM and keeps it running until SIGTERM/SIGINT.
 *
 * Arguments (each also readable from the environment):
 *   --home DIR   (TOKENHAWK_ES_HOME)  node home; config/, data/, logs/ are created under it
 *   --port N     (TOKENHAWK_ES_PORT)  HTTP port on 127.0.0.1, default 19200
 *   --host H     (TOKENHAWK_ES_HOST)  bind address, default 127.0.0.1
 *   --data DIR   (TOKENHAWK_ES_DATA)  data path, default HOME/data
 *   -Ekey=value                       any extra node setting
 *
 * Once the HTTP server is bound, HOME/run/http.url is written (atomically) with the URL;
 * it is removed again on shutdown. HOME/run/node.pid holds this JVM's pid.
 */
public final class EsNodeMain {

    public static void main(String[] args) throws Exception {
        Path home = Path.of(env("TOKENHAWK_ES_HOME", ".services/elasticsearch/node"));
        String port = env("TOKENHAWK_ES_PORT", "19200");
        String host = env("TOKENHAWK_ES_HOST", "127.0.0.1");
        String data = System.getenv("TOKENHAWK_ES_DATA");
        List<String[]> extra = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--home" -> home = Path.of(args[++i]);
                case "--port" -> port = args[++i];
                case "--host" -> host = args[++i];
                case "--data" -> data = args[++i];
                default -> {
                    if (a.startsWith("-E") && a.indexOf('=') > 2) {
                        extra.add(new String[] { a.substring(2, a.indexOf('=')), a.substring(a.indexOf('=') + 1) });
                    } else {
                        System.err.println("unknown argument: " + a);
                        System.exit(2);
                    }
                }
            }
        }
        home = home.toAbsolutePath();
        Path config = home.resolve("config");
        Path logs = home.resolve("logs");
        Path run = home.resolve("run");
        Path dataPath = data == null ? home.resolve("data") : Path.of(data).toAbsolutePath();
        for (Path p : List.of(config, logs, run, dataPath)) {
            Files.createDirectories(p);
        }
        Path urlFile = run.resolve("http.url");
        Files.deleteIfExists(urlFile);
        Files.writeString(run.resolve("node.pid"), Long.toString(ProcessHandle.current().pid()) + "\n");
        Path log4jConfig = config.resolve("log4j2.properties");
        try (InputStream in = EsNodeMain.class.getResourceAsStream("/tokenhawk-log4j2.properties")) {
            Files.copy(in, log4jConfig, StandardCopyOption.REPLACE_EXISTING);
        }
        Path yml = config.resolve("elasticsearch.yml");
        if (Files.exists(yml) == false) {
            Files.writeString(yml, "# settings are passed by the tokenhawk launcher (dev.tokenhawk.esnode.EsNodeMain)\n");
        }

        Settings.Builder sb = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", dataPath.toString())
            .put("path.logs", logs.toString())
            .put("cluster.name", "tokenhawk-es")
            .put("node.name", "tokenhawk-es-node")
            .put("discovery.type", "single-node")
            .put("network.host", host)
            .put("http.port", port)
            .put("transport.port", "0")
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("node.portsfile", true);
        for (String[] kv : extra) {
            sb.put(kv[0], kv[1]);
        }
        LogConfigurator.registerErrorListener();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(sb.build(), Map.of(), config, () -> "tokenhawk-es-node");
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(environment.settings()));
        LogConfigurator.configure(environment, true);

        List<Class<? extends Plugin>> plugins = List.of(Netty4Plugin.class, RestRootPlugin.class, DataStreamsApiPlugin.class);
        long t0 = System.nanoTime();
        Node node = new ClasspathPluginsNode(environment, plugins);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                Files.deleteIfExists(urlFile);
                node.prepareForClose();
                node.close();
                if (node.awaitClose(20, TimeUnit.SECONDS) == false) {
                    System.err.println("node did not close within 20s");
                }
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "tokenhawk-es-shutdown"));
        node.start();
        InetSocketAddress bound = node.injector()
            .getInstance(HttpServerTransport.class)
            .boundAddress()
            .publishAddress()
            .address();
        String url = "http://" + bound.getHostString() + ":" + bound.getPort();
        Path tmp = run.resolve("http.url.tmp");
        Files.writeString(tmp, url + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, urlFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        org.apache.logging.log4j.LogManager.getLogger(EsNodeMain.class)
            .info(
                "tokenhawk elasticsearch {} node started in {} ms, serving {}",
                Build.current().qualifiedVersion(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0),
                url
            );
        stopped.await();
    }

    private static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? dflt : v;
    }
}
