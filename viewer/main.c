/* ignition-view: a window onto a running guest's display. It attaches to the
 * guest worker's socket, shows the scanout it shares, and sends keyboard and
 * pointer input back (docs/DISPLAY.md). Closing the window detaches; the guest
 * keeps running.
 *
 * The main thread owns every SDL call and sleeps in SDL_WaitEvent; the
 * session's reader thread and SDL's timers wake it with user events. */
#include <SDL.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cursor.h"
#include "geometry.h"
#include "input.h"
#include "log.h"
#include "options.h"
#include "printable.h"
#include "screen.h"
#include "session.h"
#include "supervisor.h"
#include "util.h"

#define DEFAULT_WIDTH 1280
#define DEFAULT_HEIGHT 800
#define RESIZE_DEBOUNCE_MS 200
#define FLASH_MS 2000
#define SHOW_ANYWAY_MS 1000 /* a guest without a scanout still gets a window */
#define MAX_NAME 64

/* user.code of the viewer's own events (type: event_base + 1). */
enum view_event {
    VIEW_RESIZE_DUE,
    VIEW_FLASH_OVER,
    VIEW_SHOW,
    VIEW_STOP_FAILED, /* data1: why, malloc'd (posted by supervisor_stop_guest) */
    VIEW_SUPERVISOR_SAID, /* data1: a snapshot's or relaunch's outcome, malloc'd */
    VIEW_EVENT_COUNT
};

struct viewer {
    struct view_options opts;
    struct session *session;
    Uint32 event_base;
    SDL_Window *window;
    SDL_Renderer *renderer;
    struct screen screen;
    struct input input;
    struct cursor cursor;
    char name[MAX_NAME + 1];
    char status[160];  /* the connection's state; "" when attached */
    char flash[160];   /* a passing message (chords) */
    SDL_TimerID resize_timer, flash_timer;
    bool had_scanout;
    bool ever_connected;   /* a guest that then disappears was removed */
    bool fresh_connection; /* no scanout seen since (re)connecting */
    bool keyboard_grabbed;
    uint32_t asked_w, asked_h; /* the last WindowSize sent */
    /* How many notices became how many frames (tools/bench view reads the
     * line printed at exit). */
    uint64_t damage_notices, frames_presented;
    bool quit;
    bool window_closed; /* quit because the window was closed (not a detach) */
    int exit_code;
};

/* ---- small helpers ---------------------------------------------------------------- */

static void set_title(struct viewer *v, const char *guest_name)
{
    char safe[MAX_NAME + 1], title[MAX_NAME + 32];
    printable_copy(safe, sizeof(safe), guest_name);
    printable_copy(v->name, sizeof(v->name), options_display_name(&v->opts, safe));
    snprintf(title, sizeof(title), "ignition \xe2\x80\x94 %s", v->name);
    SDL_SetWindowTitle(v->window, title);
}

static Uint32 push_view_event(Uint32 interval, void *param)
{
    (void)interval;
    const struct {
        Uint32 type;
        int code;
    } *what = param;
    SDL_Event ev = {0};
    ev.type = what->type;
    ev.user.code = what->code;
    SDL_PushEvent(&ev);
    return 0; /* once */
}

/* Timers outlive nothing of ours: their parameters are static per event kind. */
static SDL_TimerID start_timer(struct viewer *v, SDL_TimerID old, Uint32 ms, enum view_event code)
{
    static struct {
        Uint32 type;
        int code;
    } params[VIEW_EVENT_COUNT];
    if (old)
        SDL_RemoveTimer(old);
    params[code].type = v->event_base + 1;
    params[code].code = (int)code;
    return SDL_AddTimer(ms, push_view_event, &params[code]);
}

static void flash(struct viewer *v, const char *text)
{
    snprintf(v->flash, sizeof(v->flash), "%s", text);
    v->flash_timer = start_timer(v, v->flash_timer, FLASH_MS, VIEW_FLASH_OVER);
    v->screen.needs_present = true;
}

static const char *status_text(const struct viewer *v)
{
    if (v->flash[0])
        return v->flash;
    if (v->status[0])
        return v->status;
    if (v->had_scanout && !v->screen.enabled)
        return "display off";
    return "";
}

static bool send_to_guest(void *ctx, const Ignition__Envelope *env)
{
    struct viewer *v = ctx;
    return session_send(v->session, env);
}

static struct input_view current_view(const struct viewer *v)
{
    struct input_view iv = {.scanout_id = v->screen.scanout_id};
    SDL_GetWindowSize(v->window, &iv.window_w, &iv.window_h);
    SDL_GetRendererOutputSize(v->renderer, &iv.drawable_w, &iv.drawable_h);
    screen_image_size(&v->screen, &iv.image_w, &iv.image_h);
    return iv;
}

/* ---- messages from the guest worker ----------------------------------------------- */

/* The window takes the first scanout's size (times --scale) unless --size said. */
static void first_scanout(struct viewer *v, const Ignition__ScanoutInfo *info)
{
    v->had_scanout = true;
    if (!v->opts.width) {
        uint64_t w = (uint64_t)info->width * v->opts.scale, h = (uint64_t)info->height * v->opts.scale;
        if (w <= VIEW_MAX_WINDOW && h <= VIEW_MAX_WINDOW)
            SDL_SetWindowSize(v->window, (int)w, (int)h);
    } else if (v->opts.resize_guest) {
        /* --size is also what the guest is asked for. */
        v->resize_timer = start_timer(v, v->resize_timer, 0, VIEW_RESIZE_DUE);
    }
    SDL_ShowWindow(v->window);
}

static void on_scanout(struct viewer *v, const Ignition__ScanoutInfo *info, const int *fds,
                       unsigned nfds)
{
    if (info->scanout_id != v->screen.scanout_id)
        return; /* one window shows one scanout */
    char why[256];
    if (screen_take_scanout(&v->screen, info, nfds ? fds[0] : -1, why, sizeof(why)) < 0) {
        log_warn("cannot show scanout %u: %s", info->scanout_id, why);
        return;
    }
    if (!info->enabled)
        return;
    if (!v->had_scanout) {
        first_scanout(v, info);
    } else if (v->fresh_connection && v->opts.resize_guest) {
        /* A restarted guest comes back in its default mode: offer it the window again. */
        v->resize_timer = start_timer(v, v->resize_timer, RESIZE_DEBOUNCE_MS, VIEW_RESIZE_DUE);
    }
    v->fresh_connection = false;
}

static void on_message(struct viewer *v, const struct session_message *m)
{
    const Ignition__Envelope *env = m->env;
    char text[256];
    switch (env->body_case) {
    case IGNITION__ENVELOPE__BODY_SCANOUT_INFO:
        on_scanout(v, env->scanout_info, m->fds, m->nfds);
        break;
    case IGNITION__ENVELOPE__BODY_DAMAGE:
        v->damage_notices++;
        screen_damage(&v->screen, env->damage);
        break;
    case IGNITION__ENVELOPE__BODY_CURSOR_IMAGE:
        if (env->cursor_image->scanout_id == v->screen.scanout_id)
            cursor_set(&v->cursor, env->cursor_image);
        break;
    case IGNITION__ENVELOPE__BODY_ERROR:
        printable_copy(text, sizeof(text), env->error->message);
        log_warn("the guest worker says: %s", text);
        break;
    default:
        break; /* CursorMove: the host pointer already is where the user points */
    }
}

static void on_session_event(struct viewer *v, const SDL_UserEvent *ev)
{
    switch ((enum session_event)ev->code) {
    case SESSION_CONNECTED: {
        const Ignition__Welcome *w = ev->data1;
        set_title(v, w->guest_name);
        v->ever_connected = true;
        v->status[0] = '\0';
        v->asked_w = v->asked_h = 0;
        v->fresh_connection = true;
        /* The guest (perhaps a new one) sends its cursor image, if it has one. */
        cursor_reset(&v->cursor);
        /* Whatever the guest saw held before the break is let go. */
        input_release_all(&v->input);
        break;
    }
    case SESSION_MESSAGE:
        on_message(v, ev->data1);
        break;
    case SESSION_LOST:
        log_warn("connection lost (%s); reconnecting", (const char *)ev->data1);
        snprintf(v->status, sizeof(v->status), "connection lost - reconnecting");
        SDL_ShowWindow(v->window);
        break;
    case SESSION_FATAL:
        log_error("%s", (const char *)ev->data1);
        v->exit_code = 1;
        v->quit = true;
        break;
    case SESSION_GONE:
        /* Stopped and removed (a disposable guest goes as it stops, by
         * Ctrl+Alt+X or vmmctl stop): the window has nothing left to show,
         * and that is how such a session ends, not a failure. */
        if (v->ever_connected) {
            log_info("guest %s is gone (stopped and removed)", v->opts.guest);
        } else {
            log_error("%s", (const char *)ev->data1);
            v->exit_code = 1;
        }
        v->quit = true;
        break;
    }
    v->screen.needs_present = true;
}

/* ---- window and input ---------------------------------------------------------------- */

static void ask_guest_for_window_size(struct viewer *v)
{
    int dw, dh;
    uint32_t w, h, iw, ih;
    SDL_GetRendererOutputSize(v->renderer, &dw, &dh);
    if (!guest_size_for(dw, dh, v->opts.scale, &w, &h))
        return;
    screen_image_size(&v->screen, &iw, &ih);
    if ((w == iw && h == ih) || (w == v->asked_w && h == v->asked_h))
        return;
    Ignition__WindowSize size = IGNITION__WINDOW_SIZE__INIT;
    size.width = w;
    size.height = h;
    size.scanout_id = v->screen.scanout_id;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_WINDOW_SIZE;
    env.window_size = &size;
    session_send(v->session, &env);
    v->asked_w = w;
    v->asked_h = h;
}

static void toggle_fullscreen(struct viewer *v)
{
    bool full = SDL_GetWindowFlags(v->window) & SDL_WINDOW_FULLSCREEN;
    SDL_SetWindowFullscreen(v->window, full ? 0 : SDL_WINDOW_FULLSCREEN_DESKTOP);
}

static void toggle_keyboard_grab(struct viewer *v)
{
    v->keyboard_grabbed = !v->keyboard_grabbed;
#if SDL_VERSION_ATLEAST(2, 0, 16)
    SDL_SetWindowKeyboardGrab(v->window, v->keyboard_grabbed ? SDL_TRUE : SDL_FALSE);
#else
    SDL_SetWindowGrab(v->window, v->keyboard_grabbed ? SDL_TRUE : SDL_FALSE);
#endif
    flash(v, v->keyboard_grabbed ? "keyboard grabbed (ctrl+alt+g releases)"
                                 : "keyboard released");
}

/* Graceful, through vmmd: the guest powers itself off, and the window
 * follows when the worker goes away. */
static void stop_guest(struct viewer *v)
{
    if (!v->opts.guest) {
        flash(v, "stopping needs the guest's name (ignition-view GUEST)");
        return;
    }
    if (supervisor_stop_guest(v->opts.guest, v->event_base + 1, VIEW_STOP_FAILED) < 0)
        flash(v, "cannot ask vmmd to stop the guest");
    else
        flash(v, "asked the guest to power off");
}

/* --stop-on-close: the window is gone, and the guest goes with it (a
 * disposable one is then removed by vmmd). After the window, so that it
 * disappears at once. */
static void stop_on_close(struct viewer *v)
{
    char err[300];
    if (supervisor_stop_guest_now(v->opts.guest, err, sizeof(err)) < 0) {
        log_error("the window closed but guest %s could not be stopped: %s", v->opts.guest,
                  err);
        v->exit_code = 1;
    } else {
        log_info("the window closed: guest %s stopped", v->opts.guest);
    }
}

/* The snapshot takes the guest's pause (a fraction of a second) on a thread
 * of its own: the window keeps drawing, and says how it went. */
static void snapshot_guest(struct viewer *v)
{
    if (!v->opts.guest) {
        flash(v, "snapshots need the guest's name (ignition-view GUEST)");
        return;
    }
    if (supervisor_snapshot_guest(v->opts.guest, v->event_base + 1, VIEW_SUPERVISOR_SAID,
                                  VIEW_SUPERVISOR_SAID) < 0)
        flash(v, "cannot ask vmmd for a snapshot");
    else
        flash(v, "taking a snapshot...");
}

/* vmmd replaces the worker; the session notices the old one go and attaches
 * to the new one by the guest's name. */
static void relaunch_guest(struct viewer *v)
{
    if (!v->opts.guest) {
        flash(v, "relaunching needs the guest's name (ignition-view GUEST)");
        return;
    }
    if (supervisor_relaunch_guest(v->opts.guest, v->event_base + 1, VIEW_SUPERVISOR_SAID,
                                  VIEW_SUPERVISOR_SAID) < 0)
        flash(v, "cannot ask vmmd to relaunch the guest");
    else
        flash(v, "relaunching from the last snapshot...");
}

static void on_chord(struct viewer *v, enum chord c)
{
    switch (c) {
    case CHORD_DETACH:
        v->quit = true;
        break;
    case CHORD_FULLSCREEN:
        toggle_fullscreen(v);
        break;
    case CHORD_GRAB:
        toggle_keyboard_grab(v);
        break;
    case CHORD_STOP:
        stop_guest(v);
        break;
    case CHORD_SNAPSHOT:
        snapshot_guest(v);
        break;
    case CHORD_RELAUNCH:
        relaunch_guest(v);
        break;
    case CHORD_NONE:
        break;
    }
}

static void on_window_event(struct viewer *v, const SDL_WindowEvent *w)
{
    switch (w->event) {
    case SDL_WINDOWEVENT_SIZE_CHANGED:
        if (v->opts.resize_guest && v->had_scanout)
            v->resize_timer =
                start_timer(v, v->resize_timer, RESIZE_DEBOUNCE_MS, VIEW_RESIZE_DUE);
        v->screen.needs_present = true;
        break;
    case SDL_WINDOWEVENT_FOCUS_LOST:
        input_release_all(&v->input);
        break;
    case SDL_WINDOWEVENT_EXPOSED:
    case SDL_WINDOWEVENT_SHOWN:
        v->screen.needs_present = true;
        break;
    default:
        break;
    }
}

static void on_view_event(struct viewer *v, const SDL_UserEvent *ev)
{
    switch ((enum view_event)ev->code) {
    case VIEW_RESIZE_DUE:
        v->resize_timer = 0;
        ask_guest_for_window_size(v);
        break;
    case VIEW_FLASH_OVER:
        v->flash_timer = 0;
        v->flash[0] = '\0';
        v->screen.needs_present = true;
        break;
    case VIEW_SHOW:
        SDL_ShowWindow(v->window);
        break;
    case VIEW_STOP_FAILED: {
        char text[sizeof(v->flash)];
        snprintf(text, sizeof(text), "stop failed: %s", (const char *)ev->data1);
        flash(v, text);
        free(ev->data1);
        break;
    }
    case VIEW_SUPERVISOR_SAID: {
        char text[sizeof(v->flash)];
        printable_copy(text, sizeof(text), ev->data1);
        flash(v, text);
        free(ev->data1);
        break;
    }
    case VIEW_EVENT_COUNT:
        break;
    }
}

static void handle_event(struct viewer *v, SDL_Event *ev)
{
    struct input_view iv;
    if (ev->type == v->event_base) {
        on_session_event(v, &ev->user);
        session_event_free(&ev->user);
        return;
    }
    if (ev->type == v->event_base + 1) {
        on_view_event(v, &ev->user);
        return;
    }
    switch (ev->type) {
    case SDL_QUIT:
        v->quit = true;
        v->window_closed = true;
        break;
    case SDL_WINDOWEVENT:
        on_window_event(v, &ev->window);
        break;
    case SDL_KEYDOWN:
    case SDL_KEYUP:
        on_chord(v, input_key(&v->input, &ev->key));
        break;
    case SDL_MOUSEMOTION:
        iv = current_view(v);
        input_motion(&v->input, &iv, ev->motion.x, ev->motion.y);
        break;
    case SDL_MOUSEBUTTONDOWN:
    case SDL_MOUSEBUTTONUP:
        iv = current_view(v);
        input_button(&v->input, &iv, &ev->button);
        break;
    case SDL_MOUSEWHEEL:
        input_wheel(&v->input, &ev->wheel);
        break;
    case SDL_RENDER_TARGETS_RESET:
    case SDL_RENDER_DEVICE_RESET:
        screen_reupload(&v->screen);
        break;
    default:
        break;
    }
}

/* Sleeps until something happens, handles everything that is queued, then
 * presents once: a burst of damage notices costs one frame. */
static void run(struct viewer *v)
{
    while (!v->quit) {
        SDL_Event ev;
        if (!SDL_WaitEvent(&ev)) {
            log_error("waiting for events: %s", SDL_GetError());
            v->exit_code = 1;
            return;
        }
        handle_event(v, &ev);
        while (!v->quit && SDL_PollEvent(&ev))
            handle_event(v, &ev);
        if (!v->quit && v->screen.needs_present) {
            screen_present(&v->screen, status_text(v));
            v->frames_presented++;
        }
    }
}

/* ---- set-up and tear-down ------------------------------------------------------------ */

static int create_window(struct viewer *v)
{
    unsigned w = v->opts.width ? v->opts.width : DEFAULT_WIDTH;
    unsigned h = v->opts.height ? v->opts.height : DEFAULT_HEIGHT;
    if (v->opts.width && (uint64_t)w * v->opts.scale <= VIEW_MAX_WINDOW &&
        (uint64_t)h * v->opts.scale <= VIEW_MAX_WINDOW) {
        w *= v->opts.scale;
        h *= v->opts.scale;
    }
    Uint32 flags = SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI | SDL_WINDOW_HIDDEN;
    if (v->opts.fullscreen)
        flags |= SDL_WINDOW_FULLSCREEN_DESKTOP;
    v->window = SDL_CreateWindow("ignition", SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
                                 (int)w, (int)h, flags);
    if (!v->window) {
        log_error("cannot open a window: %s", SDL_GetError());
        return -1;
    }
    v->renderer = SDL_CreateRenderer(v->window, -1, SDL_RENDERER_PRESENTVSYNC);
    if (!v->renderer)
        v->renderer = SDL_CreateRenderer(v->window, -1, 0);
    if (!v->renderer) {
        log_error("cannot draw in the window: %s", SDL_GetError());
        return -1;
    }
    screen_init(&v->screen, v->renderer);
    set_title(v, NULL);
    return 0;
}

static int init_sdl(void)
{
    /* Sharp at 1:1 and at whole multiples (screen.c picks per frame on newer SDL). */
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "0");
    /* A desktop compositor is no bother to a viewer. */
    SDL_SetHint(SDL_HINT_VIDEO_X11_NET_WM_BYPASS_COMPOSITOR, "0");
    SDL_SetHint(SDL_HINT_VIDEO_MINIMIZE_ON_FOCUS_LOSS, "0");
    if (SDL_Init(SDL_INIT_VIDEO | SDL_INIT_TIMER) < 0) {
        log_error("cannot start SDL: %s", SDL_GetError());
        return -1;
    }
    return 0;
}

/* Events the reader posted after the loop ended still own memory and fds. */
static void drain_session_events(struct viewer *v)
{
    SDL_Event ev;
    while (SDL_PeepEvents(&ev, 1, SDL_GETEVENT, v->event_base, v->event_base) == 1)
        session_event_free(&ev.user);
}

static void shut_down(struct viewer *v)
{
    session_free(v->session);
    v->session = NULL;
    if (v->event_base && v->event_base != (Uint32)-1)
        drain_session_events(v);
    if (v->resize_timer)
        SDL_RemoveTimer(v->resize_timer);
    if (v->flash_timer)
        SDL_RemoveTimer(v->flash_timer);
    cursor_free(&v->cursor);
    screen_free(&v->screen);
    if (v->renderer)
        SDL_DestroyRenderer(v->renderer);
    if (v->window)
        SDL_DestroyWindow(v->window);
    SDL_Quit();
}

/* The first connection is made before any window opens, so that a wrong path
 * or a refused handshake is one line on the terminal. */
static int first_connect(struct viewer *v)
{
    char err[512];
    int rc = session_connect(v->session, err, sizeof(err));
    if (rc == 0)
        return 0;
    if (rc != -EPROTO && rc != -ESRCH && v->opts.wait) {
        snprintf(v->status, sizeof(v->status), "waiting for %s",
                 v->opts.guest ? v->opts.guest : v->opts.socket_path);
        return 0;
    }
    log_error("%s", err);
    return -1;
}

int main(int argc, char **argv)
{
    log_init("ignition-view");
    struct viewer v = {0};
    char why[256];
    switch (options_parse(argc, argv, &v.opts, why, sizeof(why))) {
    case OPTIONS_OK:
    case OPTIONS_NEEDS_VMMD:
        break;
    case OPTIONS_BAD:
        fprintf(stderr, "ignition-view: %s\n%s", why, options_usage);
        return 2;
    }
    if (v.opts.help) {
        fputs(options_usage, stdout);
        return 0;
    }
    /* Event numbers are handed out without SDL running, so the socket can be
     * tried before any window system is. */
    v.event_base = SDL_RegisterEvents(2);
    v.session = session_new(v.opts.socket_path, v.event_base);
    if (v.session && v.opts.guest)
        session_set_resolver(v.session, supervisor_resolve_display, (void *)v.opts.guest);
    if (v.event_base == (Uint32)-1 || !v.session || first_connect(&v) < 0) {
        session_free(v.session);
        return 1;
    }
    if (init_sdl() < 0 || create_window(&v) < 0 || session_start(v.session) < 0) {
        shut_down(&v);
        return 1;
    }
    input_init(&v.input, send_to_guest, &v);
    start_timer(&v, 0, v.status[0] ? 0 : SHOW_ANYWAY_MS, VIEW_SHOW);
    run(&v);
    log_info("%llu damage notices, %llu frames presented",
             (unsigned long long)v.damage_notices, (unsigned long long)v.frames_presented);
    shut_down(&v);
    if (v.window_closed && v.opts.stop_on_close)
        stop_on_close(&v);
    return v.exit_code;
}
