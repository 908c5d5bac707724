package dev.tokenhawk.esnode;

import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.ActionRequest;
import org.elasticsearch.action.ActionResponse;
import org.elasticsearch.action.datastreams.CreateDataStreamAction;
import org.elasticsearch.action.datastreams.DataStreamsActionUtil;
import org.elasticsearch.action.datastreams.DeleteDataStreamAction;
import org.elasticsearch.action.datastreams.GetDataStreamAction;
import org.elasticsearch.action.datastreams.GetDataStreamAction.Response.DataStreamInfo;
import org.elasticsearch.action.datastreams.GetDataStreamAction.Response.IndexProperties;
import org.elasticsearch.action.datastreams.GetDataStreamAction.Response.ManagedBy;
import org.elasticsearch.action.support.ActionFilters;
import org.elasticsearch.action.support.IndicesOptions;
import org.elasticsearch.action.support.master.AcknowledgedRequest;
import org.elasticsearch.action.support.master.AcknowledgedResponse;
import org.elasticsearch.action.support.master.AcknowledgedTransportMasterNodeAction;
import org.elasticsearch.action.support.master.TransportMasterNodeReadAction;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.AckedClusterStateUpdateTask;
import org.elasticsearch.cluster.ClusterState;
import org.elasticsearch.cluster.block.ClusterBlockException;
import org.elasticsearch.cluster.block.ClusterBlockLevel;
import org.elasticsearch.cluster.health.ClusterStateHealth;
import org.elasticsearch.cluster.metadata.DataStream;
import org.elasticsearch.cluster.metadata.DataStreamFailureStoreSettings;
import org.elasticsearch.cluster.metadata.DataStreamGlobalRetentionSettings;
import org.elasticsearch.cluster.metadata.IndexMetadata;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.metadata.Metadata;
import org.elasticsearch.cluster.metadata.MetadataCreateDataStreamService;
import org.elasticsearch.cluster.metadata.MetadataCreateDataStreamService.CreateDataStreamClusterStateUpdateRequest;
import org.elasticsearch.cluster.metadata.MetadataDataStreamsService;
import org.elasticsearch.cluster.metadata.MetadataIndexTemplateService;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.common.util.concurrent.EsExecutors;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.index.Index;
import org.elasticsearch.index.IndexNotFoundException;
import org.elasticsearch.index.IndexSettings;
import org.elasticsearch.indices.SystemIndices;
import org.elasticsearch.injection.guice.Inject;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestUtils;
import org.elasticsearch.rest.action.RestToXContentListener;
import org.elasticsearch.tasks.Task;
import org.elasticsearch.threadpool.ThreadPool;
import org.elasticsearch.transport.TransportService;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The data stream admin APIs: GET / PUT / DELETE {@code _data_stream[/{name}]}.
 *
 * In the distribution they come from the "data-streams" module, which is not published to Maven
 * Central. The action types, requests, responses (and their JSON), the create service and the
 * delete logic are all in the server jar; this plugin only provides the three transport actions
 * that glue them together, and the REST routes. Data stream auto-creation on write, rollover and
 * search across backing indices are the server's own and need nothing from here.
 *
 * Not provided: _data_stream/_stats, _modify, _migrate, _promote, lifecycle/options/settings
 * endpoints, and the data stream lifecycle service (retention is never executed).
 */
public class DataStreamsApiPlugin extends Plugin implements ActionPlugin {

    @Override
    public Collection<ActionHandler<? extends ActionRequest, ? extends ActionResponse>> getActions() {
        return List.of(
            new ActionHandler<>(GetDataStreamAction.INSTANCE, GetTransport.class),
            new ActionHandler<>(CreateDataStreamAction.INSTANCE, CreateTransport.class),
            new ActionHandler<>(DeleteDataStreamAction.INSTANCE, DeleteTransport.class)
        );
    }

    @Override
    public Collection<RestHandler> getRestHandlers(
        Settings settings,
        NamedWriteableRegistry namedWriteableRegistry,
        RestController restController,
        ClusterSettings clusterSettings,
        IndexScopedSettings indexScopedSettings,
        SettingsFilter settingsFilter,
        IndexNameExpressionResolver indexNameExpressionResolver,
        Supplier<DiscoveryNodes> nodesInCluster,
        Predicate<NodeFeature> clusterSupportsFeature
    ) {
        return List.of(new RestGet(), new RestCreate(), new RestDelete());
    }

    // ---------------------------------------------------------------- transport actions

    public static class GetTransport extends TransportMasterNodeReadAction<GetDataStreamAction.Request, GetDataStreamAction.Response> {
        private final IndexNameExpressionResolver resolver;
        private final DataStreamGlobalRetentionSettings globalRetentionSettings;
        private final DataStreamFailureStoreSettings failureStoreSettings;

        @Inject
        public GetTransport(
            TransportService transportService,
            ClusterService clusterService,
            ThreadPool threadPool,
            ActionFilters actionFilters,
            IndexNameExpressionResolver resolver,
            DataStreamGlobalRetentionSettings globalRetentionSettings,
            DataStreamFailureStoreSettings failureStoreSettings
        ) {
            super(
                GetDataStreamAction.NAME,
                transportService,
                clusterService,
                threadPool,
                actionFilters,
                GetDataStreamAction.Request::new,
                GetDataStreamAction.Response::read,
                EsExecutors.DIRECT_EXECUTOR_SERVICE
            );
            this.resolver = resolver;
            this.globalRetentionSettings = globalRetentionSettings;
            this.failureStoreSettings = failureStoreSettings;
        }

        @Override
        protected void masterOperation(
            Task task,
            GetDataStreamAction.Request request,
            ClusterState state,
            ActionListener<GetDataStreamAction.Response> listener
        ) {
            Metadata metadata = state.metadata();
            List<String> names = DataStreamsActionUtil.getDataStreamNames(resolver, state, request.getNames(), request.indicesOptions());
            List<DataStream> streams = names.stream()
                .map(n -> metadata.dataStreams().get(n))
                .sorted(Comparator.comparing(DataStream::getName))
                .toList();
            List<DataStreamInfo> infos = new ArrayList<>(streams.size());
            for (DataStream ds : streams) {
                String template = MetadataIndexTemplateService.findV2Template(metadata, ds.getName(), false);
                String ilmPolicy = null;
                boolean templatePreferIlm = true;
                if (template != null) {
                    Settings ts = MetadataIndexTemplateService.resolveSettings(metadata, template);
                    ilmPolicy = ts.get(IndexMetadata.LIFECYCLE_NAME);
                    templatePreferIlm = IndexSettings.PREFER_ILM_SETTING.get(ts);
                }
                ClusterStateHealth health = new ClusterStateHealth(
                    state,
                    ds.getIndices().stream().map(Index::getName).toArray(String[]::new)
                );
                Map<Index, IndexProperties> props = new HashMap<>();
                List<Index> all = new ArrayList<>(ds.getIndices());
                all.addAll(ds.getFailureIndices());
                for (Index index : all) {
                    IndexMetadata im = metadata.index(index);
                    if (im == null) {
                        continue;
                    }
                    ManagedBy managedBy = metadata.isIndexManagedByILM(im) ? ManagedBy.ILM
                        : ds.isIndexManagedByDataStreamLifecycle(index, metadata::index) ? ManagedBy.LIFECYCLE
                        : ManagedBy.UNMANAGED;
                    props.put(
                        index,
                        new IndexProperties(
                            IndexSettings.PREFER_ILM_SETTING.get(im.getSettings()),
                            im.getLifecyclePolicyName(),
                            managedBy,
                            IndexSettings.MODE.get(im.getSettings()).getName()
                        )
                    );
                }
                infos.add(
                    new DataStreamInfo(
                        ds,
                        ds.isFailureStoreEffectivelyEnabled(failureStoreSettings),
                        health.getStatus(),
                        template,
                        ilmPolicy,
                        null,
                        props,
                        templatePreferIlm,
                        null,
                        ds.getIndexMode() == null ? "standard" : ds.getIndexMode().getName()
                    )
                );
            }
            listener.onResponse(
                new GetDataStreamAction.Response(infos, null, globalRetentionSettings.get(false), globalRetentionSettings.get(true))
            );
        }

        @Override
        protected ClusterBlockException checkBlock(GetDataStreamAction.Request request, ClusterState state) {
            return state.blocks().globalBlockedException(ClusterBlockLevel.METADATA_READ);
        }
    }

    public static class CreateTransport extends AcknowledgedTransportMasterNodeAction<CreateDataStreamAction.Request> {
        private final MetadataCreateDataStreamService createService;
        private final SystemIndices systemIndices;

        @Inject
        public CreateTransport(
            TransportService transportService,
            ClusterService clusterService,
            ThreadPool threadPool,
            ActionFilters actionFilters,
            MetadataCreateDataStreamService createService,
            SystemIndices systemIndices
        ) {
            super(
                CreateDataStreamAction.NAME,
                transportService,
                clusterService,
                threadPool,
                actionFilters,
                CreateDataStreamAction.Request::new,
                EsExecutors.DIRECT_EXECUTOR_SERVICE
            );
            this.createService = createService;
            this.systemIndices = systemIndices;
        }

        @Override
        protected void masterOperation(
            Task task,
            CreateDataStreamAction.Request request,
            ClusterState state,
            ActionListener<AcknowledgedResponse> listener
        ) {
            createService.createDataStream(
                new CreateDataStreamClusterStateUpdateRequest(
                    request.getName(),
                    request.getStartTime(),
                    systemIndices.validateDataStreamAccess(request.getName(), threadPool.getThreadContext()),
                    request.masterNodeTimeout(),
                    request.ackTimeout(),
                    true
                ),
                listener
            );
        }

        @Override
        protected ClusterBlockException checkBlock(CreateDataStreamAction.Request request, ClusterState state) {
            return state.blocks().globalBlockedException(ClusterBlockLevel.METADATA_WRITE);
        }
    }

    public static class DeleteTransport extends AcknowledgedTransportMasterNodeAction<DeleteDataStreamAction.Request> {
        private final IndexNameExpressionResolver resolver;
        private final Settings settings;

        @Inject
        public DeleteTransport(
            TransportService transportService,
            ClusterService clusterService,
            ThreadPool threadPool,
            ActionFilters actionFilters,
            IndexNameExpressionResolver resolver
        ) {
            super(
                DeleteDataStreamAction.NAME,
                transportService,
                clusterService,
                threadPool,
                actionFilters,
                DeleteDataStreamAction.Request::new,
                EsExecutors.DIRECT_EXECUTOR_SERVICE
            );
            this.resolver = resolver;
            this.settings = clusterService.getSettings();
        }

        @Override
        protected void masterOperation(
            Task task,
            DeleteDataStreamAction.Request request,
            ClusterState state,
            ActionListener<AcknowledgedResponse> listener
        ) {
            Set<String> names = new LinkedHashSet<>(
                DataStreamsActionUtil.getDataStreamNames(resolver, state, request.getNames(), request.indicesOptions())
            );
            // a concrete name that matches nothing is a 404, as in the distribution
            for (String requested : request.getNames()) {
                if (requested.contains("*") == false && names.contains(requested) == false) {
                    listener.onFailure(new IndexNotFoundException(requested));
                    return;
                }
            }
            if (names.isEmpty()) {
                listener.onResponse(AcknowledgedResponse.TRUE);
                return;
            }
            clusterService.submitUnbatchedStateUpdateTask(
                "remove-data-stream [" + String.join(",", names) + "]",
                new AckedClusterStateUpdateTask(request.masterNodeTimeout(), AcknowledgedRequest.DEFAULT_ACK_TIMEOUT, listener) {
                    @Override
                    public ClusterState execute(ClusterState current) {
                        Set<DataStream> toDelete = new LinkedHashSet<>();
                        for (String n : names) {
                            DataStream ds = current.metadata().dataStreams().get(n);
                            if (ds != null) {
                                toDelete.add(ds);
                            }
                        }
                        return MetadataDataStreamsService.deleteDataStreams(current, toDelete, settings);
                    }
                }
            );
        }

        @Override
        protected ClusterBlockException checkBlock(DeleteDataStreamAction.Request request, ClusterState state) {
            return state.blocks().globalBlockedException(ClusterBlockLevel.METADATA_WRITE);
        }
    }

    // ---------------------------------------------------------------- REST

    private static String[] names(RestRequest request) {
        String raw = request.param("name");
        return raw == null || raw.isEmpty() ? new String[] { "*" } : raw.split(",");
    }

    static final class RestGet extends BaseRestHandler {
        @Override
        public String getName() {
            return "get_data_streams_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.GET, "/_data_stream"), new Route(RestRequest.Method.GET, "/_data_stream/{name}"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            GetDataStreamAction.Request req = new GetDataStreamAction.Request(
                RestUtils.getMasterNodeTimeout(request),
                names(request),
                request.paramAsBoolean("include_defaults", false)
            );
            req.indicesOptions(IndicesOptions.fromRequest(request, req.indicesOptions()));
            request.paramAsBoolean("verbose", false); // accepted; max_timestamp is not computed here
            return channel -> client.execute(GetDataStreamAction.INSTANCE, req, new RestToXContentListener<>(channel));
        }
    }

    static final class RestCreate extends BaseRestHandler {
        @Override
        public String getName() {
            return "create_data_stream_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.PUT, "/_data_stream/{name}"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            CreateDataStreamAction.Request req = new CreateDataStreamAction.Request(
                RestUtils.getMasterNodeTimeout(request),
                RestUtils.getAckTimeout(request),
                request.param("name")
            );
            return channel -> client.execute(CreateDataStreamAction.INSTANCE, req, new RestToXContentListener<>(channel));
        }
    }

    static final class RestDelete extends BaseRestHandler {
        @Override
        public String getName() {
            return "delete_data_stream_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.DELETE, "/_data_stream/{name}"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            DeleteDataStreamAction.Request req = new DeleteDataStreamAction.Request(RestUtils.getMasterNodeTimeout(request), names(request));
            req.indicesOptions(IndicesOptions.fromRequest(request, req.indicesOptions()));
            return channel -> client.execute(DeleteDataStreamAction.INSTANCE, req, new RestToXContentListener<>(channel));
        }
    }
}
